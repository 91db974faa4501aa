//! The account's operators (admin): add, change a role, remove.

use super::super::format::time;
use super::super::forms::FormFields;
use super::super::layout::{self, role_name};
use super::super::session::{Console, csrf_field};
use super::super::{PageResult, require};
use crate::error::GatewayError;
use crate::operators::{self, MIN_PASSWORD_CHARS, Role};
use crate::state::AppState;
use crate::store;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use maud::html;

fn role_of(form: &FormFields) -> Result<Role, GatewayError> {
    form.get("role").and_then(Role::parse).ok_or_else(|| {
        GatewayError::invalid_param("role", "Choose a role: admin, finance, support or viewer.")
    })
}

pub async fn page(State(state): State<AppState>, console: Console) -> PageResult {
    require(&console, Role::Admin)?;
    let list = {
        let mut conn = state.db.reader().acquire().await?;
        store::operators::list(&mut conn, &console.operator.account_id).await?
    };
    let roles = |chosen: Role| {
        html! {
            @for role in Role::ALL { option value=(role.as_str()) selected[role == chosen] { (role_name(console.lang, role)) } }
        }
    };
    let content = html! {
        div.scroll { table {
            thead { tr { th { (console.t("名称", "Name")) } th { (console.t("角色", "Role")) } th { (console.t("创建时间", "Created")) } th { (console.t("操作", "Actions")) } } }
            tbody { @for op in &list { tr {
                td { (op.name) }
                td { (role_name(console.lang, op.role)) }
                td { (time(op.created)) }
                td.actions { @if op.id != console.operator.id {
                    form.inline method="post" action={"/dashboard/operators/" (op.name) "/role"} {
                        (csrf_field(&console))
                        select name="role" aria-label=(console.t("角色", "Role")) { (roles(op.role)) }
                        button { (console.t("修改角色", "Change role")) }
                    }
                    form.inline method="post" action={"/dashboard/operators/" (op.name) "/remove"} data-confirm=(console.t("删除这个操作员？", "Remove this operator?")) {
                        (csrf_field(&console)) button.danger { (console.t("删除", "Remove")) }
                    }
                } @else { small { (console.t("（你自己）", "(you)")) } } }
            } } }
        } }
        section {
            h2 { (console.t("添加操作员", "Add an operator")) }
            form.action method="post" action="/dashboard/operators" {
                (csrf_field(&console))
                label { (console.t("名称", "Name")) input name="name" required maxlength="64" autocomplete="off"; }
                label { (console.t("角色", "Role")) select name="role" { (roles(Role::Viewer)) } }
                label { (console.t("初始密码（至少 12 个字符）", "Initial password (12+ characters)"))
                    input name="password" type="password" required minlength=(MIN_PASSWORD_CHARS) autocomplete="new-password"; }
                button.primary { (console.t("添加操作员", "Add operator")) }
            }
            p.hint { (console.t(
                "只读：查看；客服：另可退款、撤销、重新推送；财务：另可查看余额与充值并退款；管理员：另可管理密钥、应用、渠道、Webhook 和操作员。",
                "viewer reads; support also refunds, reverses and resends; finance also sees balances and recharges and refunds them; admin also manages keys, apps, channels, webhooks and operators."
            )) }
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/operators",
        console.t("操作员", "Operators"),
        content,
    )
    .into_response())
}

pub async fn add(State(state): State<AppState>, console: Console, form: FormFields) -> PageResult {
    require(&console, Role::Admin)?;
    let role = role_of(&form)?;
    let name = form.get("name").unwrap_or_default().to_owned();
    let password = form.raw("password").unwrap_or_default().to_owned();
    operators::add(&state.db, console.audit(), &name, role, &password).await?;
    Ok(Redirect::to("/dashboard/operators").into_response())
}

pub async fn set_role(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Admin)?;
    operators::set_role(&state.db, console.audit(), &name, role_of(&form)?).await?;
    Ok(Redirect::to("/dashboard/operators").into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
) -> PageResult {
    require(&console, Role::Admin)?;
    operators::remove(&state.db, console.audit(), &name).await?;
    Ok(Redirect::to("/dashboard/operators").into_response())
}
