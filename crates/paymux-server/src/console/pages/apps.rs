//! The account's apps: create and rename (the command line has the same operations).

use super::super::forms::FormFields;
use super::super::layout;
use super::super::session::{Console, csrf_field};
use super::super::{PageResult, require};
use crate::account;
use crate::operators::Role;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use maud::html;

pub async fn page(console: Console) -> PageResult {
    require(&console, Role::Admin)?;
    let console = &console;
    let content = html! {
        div.scroll { table {
            thead { tr { th { "ID" } th { (console.t("名称", "Name")) } th { (console.t("重命名", "Rename")) } } }
            tbody { @for app in &console.apps { tr {
                td { code { (app.id) } @if app.id == console.app_id { " " small { (console.t("（当前）", "(current)")) } } }
                td { (app.name) }
                td { form.inline method="post" action={"/dashboard/apps/" (app.id)} {
                    (csrf_field(console))
                    input name="name" value=(app.name) required maxlength="64" aria-label=(console.t("新名称", "New name"));
                    button { (console.t("重命名", "Rename")) }
                } }
            } } }
        } }
        section {
            h2 { (console.t("创建应用", "Create an app")) }
            form.action method="post" action="/dashboard/apps" {
                (csrf_field(console))
                label { (console.t("名称", "Name")) input name="name" required maxlength="64"; }
                button.primary { (console.t("创建应用", "Create app")) }
            }
            p.hint { (console.t("同一账户的所有应用共用 Secret Key；在页面顶部切换当前应用。", "All apps of the account share its secret keys; switch the current app at the top of the page.")) }
        }
    };
    Ok(layout::page(
        console,
        "/dashboard/apps",
        console.t("应用", "Apps"),
        content,
    )
    .into_response())
}

pub async fn create(
    State(state): State<AppState>,
    console: Console,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Admin)?;
    account::create_app(
        &state.db,
        console.audit(),
        form.get("name").unwrap_or_default(),
    )
    .await?;
    Ok(Redirect::to("/dashboard/apps").into_response())
}

pub async fn rename(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Admin)?;
    account::rename_app(
        &state.db,
        console.audit(),
        &id,
        form.get("name").unwrap_or_default(),
    )
    .await?;
    Ok(Redirect::to("/dashboard/apps").into_response())
}
