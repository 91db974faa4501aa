//! The frame every console page shares: header with the app and Test/Live switches, the
//! navigation the operator's role allows, and the sign-in and error pages.

use super::lang::Lang;
use super::session::{Console, csrf_field};
use crate::operators::Role;
use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

/// The console's sections: path, Chinese and English names, the least role that sees it.
const SECTIONS: &[(&str, &str, &str, Role)] = &[
    ("/dashboard/", "概览", "Overview", Role::Viewer),
    ("/dashboard/charges", "交易", "Charges", Role::Viewer),
    ("/dashboard/refunds", "退款", "Refunds", Role::Viewer),
    ("/dashboard/events", "事件", "Events", Role::Viewer),
    (
        "/dashboard/deliveries",
        "推送失败",
        "Deliveries",
        Role::Viewer,
    ),
    ("/dashboard/recharges", "充值", "Recharges", Role::Finance),
    ("/dashboard/webhooks", "Webhooks", "Webhooks", Role::Viewer),
    (
        "/dashboard/developers",
        "开发参数",
        "Developers",
        Role::Admin,
    ),
    ("/dashboard/channels", "渠道", "Channels", Role::Admin),
    ("/dashboard/apps", "应用", "Apps", Role::Admin),
    ("/dashboard/operators", "操作员", "Operators", Role::Admin),
    ("/dashboard/audit", "操作日志", "Audit log", Role::Admin),
];

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · paymux" }
            link rel="stylesheet" href="/dashboard/assets/console.css";
            script src="/dashboard/assets/console.js" defer {}
            meta name="lang" content=(lang.code());
        }
    }
}

fn lang_switch(lang: Lang, csrf: Option<&Console>) -> Markup {
    html! {
        form.inline method="post" action="/dashboard/lang" {
            @if let Some(console) = csrf { (csrf_field(console)) }
            @if lang == Lang::Zh {
                button.link name="lang" value="en" { "English" }
            } @else {
                button.link name="lang" value="zh" { "中文" }
            }
        }
    }
}

/// A page of the console: `active` is the section path it belongs to.
pub fn page(console: &Console, active: &str, title: &str, content: Markup) -> Markup {
    let lang = console.lang;
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title))
            body.live[console.livemode] {
                header.top {
                    a.brand href="/dashboard/" { "paymux" }
                    form.context method="post" action="/dashboard/context" {
                        (csrf_field(console))
                        @if console.apps.len() > 1 {
                            select name="app" aria-label=(lang.t("应用", "App")) data-autosubmit {
                                @for app in &console.apps {
                                    option value=(app.id) selected[app.id == console.app_id] { (app.name) " (" (app.id) ")" }
                                }
                            }
                        }
                        span.modes role="group" aria-label=(lang.t("模式", "Mode")) {
                            button name="mode" value="test" aria-pressed=(!console.livemode) { (lang.t("测试", "Test")) }
                            button name="mode" value="live" aria-pressed=(console.livemode) { (lang.t("生产", "Live")) }
                        }
                    }
                    span.who { (console.operator.name) " · " (role_name(lang, console.operator.role)) }
                    (lang_switch(lang, Some(console)))
                    form.inline method="post" action="/dashboard/logout" {
                        (csrf_field(console))
                        button.link { (lang.t("退出", "Sign out")) }
                    }
                }
                @if console.livemode {
                    p.banner { (lang.t("生产模式：这里的操作会移动真实资金。", "Live mode: actions here move real money.")) }
                }
                nav.sections {
                    @for (path, zh, en, role) in SECTIONS {
                        @if console.operator.role >= *role {
                            a href=(path) aria-current=[(*path == active).then_some("page")] { (lang.t(zh, en)) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

pub fn role_name(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::Viewer => lang.t("只读", "viewer"),
        Role::Support => lang.t("客服", "support"),
        Role::Finance => lang.t("财务", "finance"),
        Role::Admin => lang.t("管理员", "admin"),
    }
}

pub fn login(lang: Lang, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, lang.t("登录", "Sign in")))
            body.login {
                main {
                    h1 { "paymux " (lang.t("管理平台", "console")) }
                    @if let Some(error) = error { p.error role="alert" { (error) } }
                    form method="post" action="/dashboard/login" {
                        label { (lang.t("用户名", "Name")) input name="name" autocomplete="username" required autofocus; }
                        label { (lang.t("密码", "Password")) input name="password" type="password" autocomplete="current-password" required; }
                        button.primary { (lang.t("登录", "Sign in")) }
                    }
                    (lang_switch(lang, None))
                    p.hint { (lang.t(
                        "没有账号？管理员在服务器上运行 paymux operators add NAME --role admin --password-stdin 创建。",
                        "No account? An administrator creates one on the server with paymux operators add NAME --role admin --password-stdin."
                    )) }
                }
            }
        }
    }
}

/// A refusal or failure, in both languages (it may come before the operator is known).
pub fn problem(status: StatusCode, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head(Lang::Zh, "Error"))
            body.login {
                main {
                    h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                    p.error role="alert" { (message) }
                    p { a href="/dashboard/" data-back { "← 返回 / Back" } " · " a href="/dashboard/" { "概览 / Overview" } }
                }
            }
        }
    }
}
