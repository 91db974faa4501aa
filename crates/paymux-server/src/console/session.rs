//! Signing in and out, and what every console request checks first: a live session (idle at
//! most [`IDLE_MS`], at most [`LIFETIME_MS`] old), a POST from this origin carrying the
//! session's CSRF token. Sign-in failures are throttled per operator, across nodes.

use super::forms::FormFields;
use super::lang::{self, Lang};
use super::{Failure, PageResult, layout};
use crate::api::RequestId;
use crate::domain::{Attribution, Caller};
use crate::error::GatewayError;
use crate::ids;
use crate::operators::{self, Actor, Audit, Operator};
use crate::state::AppState;
use crate::store::{self, console_sessions::Session};
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use maud::html;
use serde_json::Map;

pub const COOKIE: &str = "paymux_session";
/// A session unused this long ends.
pub const IDLE_MS: i64 = 30 * 60_000;
/// A session ends this long after sign-in, used or not.
pub const LIFETIME_MS: i64 = 12 * 3_600_000;
/// How often a session's last use is written (not on every page).
const TOUCH_EVERY_MS: i64 = 60_000;
/// Failed sign-ins allowed before the operator is locked out for a while.
const FREE_FAILURES: i64 = 5;
/// The longest lock-out; it doubles from one minute with every further failure.
const MAX_LOCK_MS: i64 = 15 * 60_000;

/// A signed-in operator's request.
pub struct Console {
    pub operator: Operator,
    pub csrf: String,
    pub app_id: String,
    pub livemode: bool,
    pub lang: Lang,
    pub request_id: String,
    /// The account's apps, for the app switcher.
    pub apps: Vec<store::accounts::App>,
    pub now_ms: i64,
}

impl Console {
    pub fn t(&self, zh: &'static str, en: &'static str) -> &'static str {
        self.lang.t(zh, en)
    }

    /// The operator as an API caller in the current mode, for the operations the API shares.
    pub fn caller(&self) -> Caller {
        self.caller_with_entry(None)
    }

    /// As [`Console::caller`], with the audit entry's id fixed by the form, so a form posted
    /// twice does its work once.
    pub fn caller_with_entry(&self, entry_id: Option<String>) -> Caller {
        Caller {
            account_id: self.operator.account_id.clone(),
            livemode: self.livemode,
            request_id: self.request_id.clone(),
            operator: Some(Attribution {
                name: self.operator.name.clone(),
                entry_id,
            }),
        }
    }

    /// The operator as the actor of an account-wide change.
    pub fn audit(&self) -> Audit {
        Audit {
            account_id: self.operator.account_id.clone(),
            actor: Actor {
                name: self.operator.name.clone(),
                request_id: Some(self.request_id.clone()),
            },
            now_ms: self.now_ms,
        }
    }

    pub fn mode(&self) -> &'static str {
        if self.livemode { "live" } else { "test" }
    }
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(Failure::SignIn)?;
        let apps = {
            let mut conn = state.db.reader().acquire().await?;
            store::accounts::apps(&mut conn, &session.operator.account_id).await?
        };
        Ok(Console {
            operator: session.operator,
            csrf: session.csrf_token,
            app_id: session.app_id,
            livemode: session.livemode,
            lang: Lang::of(&parts.headers),
            request_id: parts
                .extensions
                .get::<RequestId>()
                .map_or_else(ids::api_request, |r| r.0.clone()),
            apps,
            now_ms: state.clock.now_ms(),
        })
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn token_hash(token: &str) -> String {
    store::accounts::hash_key(token)
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether a browser says the request comes from another site: `Sec-Fetch-Site`, else an
/// `Origin` that is not this host. Requests without either (not from a browser) pass on to
/// the CSRF token check.
fn cross_site(headers: &HeaderMap, public_url: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let Ok(origin) = url::Url::parse(origin) else {
        return true; // "null" and anything else unparsable
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = match origin.port() {
        Some(port) => format!("{}:{port}", origin.host_str().unwrap_or_default()),
        None => origin.host_str().unwrap_or_default().to_owned(),
    };
    let public_host = public_url
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned));
    origin_host != host && Some(origin.host_str().unwrap_or_default()) != public_host.as_deref()
}

/// Every console request: finds its session (ending it when idle or old), and refuses a POST
/// from another site or without the session's CSRF token.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let post = request.method() == Method::POST;
    if post && cross_site(request.headers(), state.settings.public_url.as_deref()) {
        return Failure::Forbidden("Refused: the form was sent from another site.").into_response();
    }
    let session = match cookie(request.headers(), COOKIE) {
        Some(token) => match live_session(&state, &token).await {
            Ok(session) => session,
            Err(failure) => return failure.into_response(),
        },
        None => None,
    };
    let mut request = request;
    // Signing in and choosing a language need no session (and change nothing of anyone's).
    let open = matches!(request.uri().path(), "/dashboard/login" | "/dashboard/lang");
    if post && !open {
        let Some(session) = &session else {
            return Failure::SignIn.into_response();
        };
        let (parts, body) = request.into_parts();
        // Already read whole, within the body limit, by the router's body reader.
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            return Failure::Forbidden("The form could not be read.").into_response();
        };
        let fields = FormFields::parse(&bytes);
        if !fields
            .raw("csrf")
            .is_some_and(|token| same_secret(token, &session.csrf_token))
        {
            return Failure::Forbidden(
                "Refused: the form's security token is missing or stale; reload the page.",
            )
            .into_response();
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }
    if let Some(session) = session {
        request.extensions_mut().insert(session);
    }
    next.run(request).await
}

async fn live_session(state: &AppState, token: &str) -> Result<Option<Session>, Failure> {
    let hash = token_hash(token);
    let session = {
        let mut conn = state.db.reader().acquire().await?;
        store::console_sessions::get(&mut conn, &hash).await?
    };
    let Some(session) = session else {
        return Ok(None);
    };
    let now = state.clock.now_ms();
    let expired = now - session.seen_ms > IDLE_MS || now - session.created_ms > LIFETIME_MS;
    if expired || now - session.seen_ms > TOUCH_EVERY_MS {
        let hash = hash.clone();
        state
            .db
            .write(move |conn| {
                Box::pin(async move {
                    if expired {
                        store::console_sessions::delete(conn, &hash).await
                    } else {
                        store::console_sessions::touch(conn, &hash, now).await
                    }
                })
            })
            .await?;
    }
    Ok((!expired).then_some(session))
}

/// Whether the console is reached over https (directly or through a proxy that says so), so
/// the cookie can be marked `Secure`.
fn over_https(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .settings
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn set_cookie(
    name: &str,
    value: &str,
    max_age_secs: i64,
    secure: bool,
    http_only: bool,
) -> HeaderValue {
    let mut text =
        format!("{name}={value}; Path=/dashboard; SameSite=Strict; Max-Age={max_age_secs}");
    if http_only {
        text.push_str("; HttpOnly");
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub async fn login_page(request: Request) -> Response {
    if request.extensions().get::<Session>().is_some() {
        return Redirect::to("/dashboard/").into_response();
    }
    let lang = Lang::of(request.headers());
    layout::login(lang, None).into_response()
}

/// A hash to verify against when the name is unknown, so an unknown name takes as long to
/// refuse as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| operators::hash_password("decoy password never used").unwrap_or_default())
}

pub async fn login(State(state): State<AppState>, request: Request) -> PageResult {
    let lang = Lang::of(request.headers());
    let secure = over_https(&state, request.headers());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map_or_else(ids::api_request, |r| r.0.clone());
    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .map_err(|_| Failure::Forbidden("The form could not be read."))?;
    let form = FormFields::parse(&body);
    let name = form.get("name").unwrap_or_default().to_owned();
    let password = form.raw("password").unwrap_or_default().to_owned();

    let (account, operator, (failed, locked_until)) = {
        let mut conn = state.db.reader().acquire().await?;
        let Some((account, _)) = store::accounts::first_account(&mut conn).await? else {
            return Err(Failure::NotFound);
        };
        let operator = store::operators::get(&mut conn, &account, &name).await?;
        let throttle = match &operator {
            Some(o) => store::console_sessions::login_state(&mut conn, &o.id).await?,
            None => (0, 0),
        };
        (account, operator, throttle)
    };
    let now = state.clock.now_ms();
    if locked_until > now {
        let minutes = (locked_until - now + 59_999) / 60_000;
        let message = match lang {
            Lang::Zh => format!("登录失败次数过多，请 {minutes} 分钟后再试。"),
            Lang::En => format!("Too many failed sign-ins; try again in {minutes} min."),
        };
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            layout::login(lang, Some(&message)),
        )
            .into_response());
    }
    let hash = operator
        .as_ref()
        .map_or_else(|| decoy_hash().to_owned(), |o| o.password_hash.clone());
    let matches =
        tokio::task::spawn_blocking(move || operators::password_matches(&password, &hash))
            .await
            .unwrap_or(false);
    let audit = Audit {
        account_id: account,
        actor: Actor {
            name: name.clone(),
            request_id: Some(request_id),
        },
        now_ms: now,
    };
    let named = operator.as_ref().map(|o| o.id.clone());
    let Some(operator) = operator.filter(|_| matches) else {
        if let Some(operator) = named {
            let failed = failed + 1;
            let locked_until = if failed >= FREE_FAILURES {
                now + (60_000_i64 << (failed - FREE_FAILURES).min(10)).min(MAX_LOCK_MS)
            } else {
                0
            };
            let audit = audit.clone();
            state
                .db
                .write(move |conn| {
                    Box::pin(async move {
                        store::console_sessions::set_login_state(
                            conn,
                            &operator,
                            failed,
                            locked_until,
                        )
                        .await?;
                        let detail = operators::detail(serde_json::json!({ "failures": failed }));
                        audit
                            .record(conn, "login.failed", &audit.actor.name, detail)
                            .await
                    })
                })
                .await?;
        }
        let message = lang.t("用户名或密码错误", "Wrong name or password");
        return Ok((StatusCode::UNAUTHORIZED, layout::login(lang, Some(message))).into_response());
    };

    let token = random_token();
    let app_id = {
        let mut conn = state.db.reader().acquire().await?;
        store::accounts::first_app_of(&mut conn, &operator.account_id)
            .await?
            .ok_or_else(GatewayError::internal)?
    };
    let session = Session {
        token_hash: token_hash(&token),
        operator,
        csrf_token: random_token(),
        created_ms: now,
        seen_ms: now,
        app_id,
        livemode: false,
    };
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let begun_before = now - LIFETIME_MS;
                store::console_sessions::delete_expired(conn, now - IDLE_MS, begun_before).await?;
                store::console_sessions::set_login_state(conn, &session.operator.id, 0, 0).await?;
                store::console_sessions::insert(conn, &session).await?;
                audit
                    .record(conn, "login", &session.operator.name, Map::new())
                    .await
            })
        })
        .await?;
    let mut response = Redirect::to("/dashboard/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(COOKIE, &token, LIFETIME_MS / 1000, secure, true),
    );
    Ok(response)
}

pub async fn logout(
    State(state): State<AppState>,
    console: Console,
    request: Request,
) -> PageResult {
    let hash = cookie(request.headers(), COOKIE).map(|t| token_hash(&t));
    let secure = over_https(&state, request.headers());
    let audit = console.audit();
    let name = console.operator.name.clone();
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                if let Some(hash) = hash {
                    store::console_sessions::delete(conn, &hash).await?;
                }
                audit.record(conn, "logout", &name, Map::new()).await
            })
        })
        .await?;
    let mut response = Redirect::to("/dashboard/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(COOKIE, "", 0, secure, true));
    Ok(response)
}

/// Where to go back to after a switch: the page it was made on, if it is a console page.
fn back(headers: &HeaderMap) -> String {
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.path().to_owned())
        .filter(|p| p.starts_with("/dashboard/") && !p.starts_with("/dashboard/login"))
        .unwrap_or_else(|| "/dashboard/".to_owned())
}

/// Switches the app and the mode (Test/Live) the console shows.
pub async fn switch_context(
    State(state): State<AppState>,
    console: Console,
    headers: HeaderMap,
    form: FormFields,
) -> PageResult {
    let app_id = form.get("app").unwrap_or(&console.app_id).to_owned();
    if !console.apps.iter().any(|app| app.id == app_id) {
        return Err(Failure::NotFound);
    }
    let livemode = match form.get("mode") {
        Some("live") => true,
        Some("test") => false,
        _ => console.livemode,
    };
    let hash = cookie(&headers, COOKIE)
        .map(|t| token_hash(&t))
        .unwrap_or_default();
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                store::console_sessions::set_context(conn, &hash, &app_id, livemode).await
            })
        })
        .await?;
    // A detail page belongs to one mode: go back to its list.
    let mut to = back(&headers);
    if to.matches('/').count() > 2 {
        to = to
            .rsplit_once('/')
            .map_or("/dashboard/", |(list, _)| list)
            .to_owned();
    }
    Ok(Redirect::to(&to).into_response())
}

pub async fn switch_lang(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: FormFields,
) -> Response {
    let lang = form.get("lang").and_then(Lang::parse).unwrap_or(Lang::Zh);
    let secure = over_https(&state, &headers);
    let code = if lang == Lang::En { "en" } else { "zh" };
    let mut response = Redirect::to(&back(&headers)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(lang::COOKIE, code, 365 * 86_400, secure, false),
    );
    response
}

/// The cookie that carries a new secret to the page that shows it once.
const SECRET_COOKIE: &str = "paymux_new_secret";

/// A redirect to `to` that shows `secret` (labelled, e.g. with its endpoint's URL) on the page
/// it leads to, once: the page reads and clears the cookie, so a reload does not show it again
/// (nor post the form again), and nothing on the server keeps it.
pub fn redirect_with_secret(
    state: &AppState,
    headers: &HeaderMap,
    to: &str,
    label: &str,
    secret: &str,
) -> Response {
    let value =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{label}\n{secret}"));
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(SECRET_COOKIE, &value, 120, over_https(state, headers), true),
    );
    response
}

/// The secret a redirect carried here, as (label, secret).
pub fn take_secret(headers: &HeaderMap) -> Option<(String, String)> {
    let value = cookie(headers, SECRET_COOKIE)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (label, secret) = text.split_once('\n')?;
    Some((label.to_owned(), secret.to_owned()))
}

/// Clears the carried secret once its page is rendered.
pub fn forget_secret(state: &AppState, headers: &HeaderMap, mut response: Response) -> Response {
    if cookie(headers, SECRET_COOKIE).is_some() {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(SECRET_COOKIE, "", 0, over_https(state, headers), true),
        );
    }
    response
}

/// The hidden field every console form carries.
pub fn csrf_field(console: &Console) -> maud::Markup {
    html! { input type="hidden" name="csrf" value=(console.csrf); }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn posts_from_another_site_are_recognised() {
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(!cross_site(&same, None));
        let other = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ]);
        assert!(cross_site(&other, None));
        let port = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:9999"),
        ]);
        assert!(cross_site(&port, None));
        let null = headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert!(cross_site(&null, None));
        let fetch = headers(&[("host", "a"), ("sec-fetch-site", "cross-site")]);
        assert!(cross_site(&fetch, None));
        let proxied = headers(&[
            ("host", "10.0.0.5:8080"),
            ("origin", "https://pay.example.com"),
        ]);
        assert!(!cross_site(&proxied, Some("https://pay.example.com")));
        assert!(!cross_site(&headers(&[("host", "a")]), None));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let map = headers(&[("cookie", "a=1; paymux_session=abc; b=2")]);
        assert_eq!(cookie(&map, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&map, "c"), None);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
