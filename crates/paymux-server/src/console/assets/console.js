// The console's only script (pages work without it): confirmation prompts, a file read into
// a textarea, selects that submit themselves, and the error page's back link.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("change", function (event) {
  var input = event.target;
  if (input.hasAttribute("data-autosubmit")) {
    input.form.submit();
  }
  var target = input.getAttribute("data-fill");
  if (target && input.files && input.files[0]) {
    input.files[0].text().then(function (text) {
      var area = input.form.querySelector('textarea[name="' + target + '"]');
      if (area) {
        area.value = text;
      }
    });
  }
});
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-back]");
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
