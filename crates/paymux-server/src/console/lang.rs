//! The console speaks Chinese, or English when the browser prefers it or the operator chose it
//! (a `paymux_lang` cookie). Each text is written where it is used, in both languages.

use axum::http::{HeaderMap, header};

pub const COOKIE: &str = "paymux_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The text in this language.
    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The operator's choice, else the first of Chinese or English the browser ranks highest,
    /// else Chinese.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(chosen) = super::session::cookie(headers, COOKIE).and_then(|v| Lang::parse(&v))
        {
            return chosen;
        }
        let Some(accept) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::Zh;
        };
        let mut ranked: Vec<(f32, Lang)> = accept
            .split(',')
            .filter_map(|item| {
                let mut parts = item.trim().split(';');
                let tag = parts.next()?.trim().to_ascii_lowercase();
                let lang = if tag.starts_with("zh") {
                    Lang::Zh
                } else if tag.starts_with("en") {
                    Lang::En
                } else {
                    return None;
                };
                let quality = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                Some((quality, lang))
            })
            .collect();
        // Stable: of equal weights the first listed wins.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map_or(Lang::Zh, |(_, lang)| *lang)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(accept: &str) -> Lang {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, accept.parse().expect("header"));
        Lang::of(&headers)
    }

    #[test]
    fn chinese_unless_the_browser_prefers_english() {
        assert_eq!(Lang::of(&HeaderMap::new()), Lang::Zh);
        assert_eq!(with("en-US,en;q=0.9"), Lang::En);
        assert_eq!(with("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(with("fr-FR,en;q=0.5,zh;q=0.4"), Lang::En);
        assert_eq!(with("de"), Lang::Zh);
        assert_eq!(with("zh;q=0.2,en;q=0.7"), Lang::En);
    }
}
