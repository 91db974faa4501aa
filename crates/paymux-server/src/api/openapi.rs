//! `/openapi.json`, generated from the route table (each route records what it takes and what
//! it answers as it is registered) and from the types those are declared as
//! (`domain/wire.rs` for answers, `api/requests.rs` for bodies and query parameters).

use crate::domain::wire::{ErrorBody, List};
use axum::http::Method;
use serde_json::Value;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, OneOfBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApiBuilder, Paths, Ref,
    RefOr, Required, ResponseBuilder, Schema, Type,
};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// A schema and the named schemas it refers to.
struct Described {
    schema: RefOr<Schema>,
    components: Vec<(String, RefOr<Schema>)>,
}

impl Described {
    fn of<T: ToSchema>() -> Self {
        let mut components = Vec::new();
        T::schemas(&mut components);
        components.push((T::name().into_owned(), T::schema()));
        Described {
            schema: Ref::from_schema_name(T::name()).into(),
            components,
        }
    }

    /// A Ping++ list of `T`.
    fn list_of<T: ToSchema>() -> Self {
        let mut components = Vec::new();
        List::<T>::schemas(&mut components);
        components.push((T::name().into_owned(), T::schema()));
        Described {
            schema: List::<T>::schema(),
            components,
        }
    }
}

/// A documented route: what it takes and what it answers.
pub struct Operation {
    pub method: Method,
    pub path: &'static str,
    summary: &'static str,
    body: Option<Described>,
    query: Vec<Parameter>,
    answer: Option<Described>,
    /// Whether a payment channel may refuse it (402).
    reaches_channel: bool,
}

impl Operation {
    pub fn new(method: Method, path: &'static str, summary: &'static str) -> Self {
        Operation {
            method,
            path,
            summary,
            body: None,
            query: Vec::new(),
            answer: None,
            reaches_channel: false,
        }
    }

    pub fn body<T: ToSchema>(mut self) -> Self {
        self.body = Some(Described::of::<T>());
        self
    }

    pub fn query<T: IntoParams>(mut self) -> Self {
        self.query
            .extend(T::into_params(|| Some(ParameterIn::Query)));
        self
    }

    pub fn answers<T: ToSchema>(mut self) -> Self {
        self.answer = Some(Described::of::<T>());
        self
    }

    pub fn answers_list<T: ToSchema>(mut self) -> Self {
        self.answer = Some(Described::list_of::<T>());
        self
    }

    pub fn reaches_channel(mut self) -> Self {
        self.reaches_channel = true;
        self
    }
}

/// The statuses every route may answer with Ping++'s error body, and why.
const ERRORS: [(&str, &str); 8] = [
    (
        "400",
        "The request cannot be done as sent; `param` names the field",
    ),
    (
        "401",
        "No valid API key, or a required request signature is missing or wrong",
    ),
    ("404", "No such object (or another account's)"),
    ("405", "The path exists, the method does not"),
    ("408", "The request body did not arrive in time"),
    (
        "409",
        "A conflicting request is in progress or was made with this key; nothing changed",
    ),
    ("500", "An internal error; the request may be retried"),
    ("503", "The store is unavailable; nothing changed"),
];

pub fn document(operations: &[Operation]) -> Value {
    let mut paths = Paths::new();
    let mut components = ComponentsBuilder::new()
        .schema(ErrorBody::name(), ErrorBody::schema())
        .response(
            "Error",
            ResponseBuilder::new()
                .description("Ping++'s error body")
                .content("application/json", json_content(error_ref())),
        )
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Authorization: Bearer sk_test_… or sk_live_…"))
                    .build(),
            ),
        )
        .security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("The secret key as user name, empty password"))
                    .build(),
            ),
        );
    let mut schemas = ErrorBody::schemas_vec();
    for op in operations {
        let mut operation = OperationBuilder::new()
            .summary(Some(op.summary))
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .security(SecurityRequirement::new("basic", Vec::<String>::new()));
        for name in op
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            let schema = ObjectBuilder::new().schema_type(Type::String);
            operation = operation.parameter(parameter(name, ParameterIn::Path, true, None, schema));
        }
        for parameter in &op.query {
            operation = operation.parameter(parameter.clone());
        }
        if op.method == Method::POST {
            for (name, description, pattern) in [
                (
                    "Pingplusplus-Signature",
                    "base64 RSA-SHA256 over body + request target + timestamp, with the merchant's private key",
                    "^[A-Za-z0-9+/]+={0,2}$",
                ),
                (
                    "Pingplusplus-Request-Timestamp",
                    "Unix seconds, signed with the body",
                    "^[0-9]{1,12}$",
                ),
                (
                    "Idempotency-Key",
                    "A repeat with the same key and body within 24 h gets the first answer again",
                    "^[!-~]{1,255}$",
                ),
            ] {
                let schema = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(pattern));
                operation = operation.parameter(parameter(
                    name,
                    ParameterIn::Header,
                    false,
                    Some(description),
                    schema,
                ));
            }
            let body = request_body(op.body.as_ref().map(|b| b.schema.clone()));
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", json_content(body.clone()))
                    .content("application/x-www-form-urlencoded", json_content(body))
                    .required(Some(if op.body.is_some() {
                        Required::True
                    } else {
                        Required::False
                    }))
                    .build(),
            ));
        }
        let answer = op.answer.as_ref().map_or_else(
            || ObjectBuilder::new().schema_type(Type::Object).into(),
            |a| a.schema.clone(),
        );
        operation = operation.response(
            "200",
            ResponseBuilder::new()
                .description("OK")
                .content("application/json", json_content(answer)),
        );
        let errors = ERRORS.iter().copied().chain(
            op.reaches_channel
                .then_some(("402", "The payment channel refused or is not available")),
        );
        for (status, description) in errors {
            operation = operation.response(
                status,
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", json_content(error_ref())),
            );
        }
        for described in [&op.body, &op.answer].into_iter().flatten() {
            schemas.extend(described.components.iter().cloned());
        }
        paths.add_path_operation(op.path, vec![http_method(&op.method)], operation.build());
    }
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    let document = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("paymux")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A self-hosted, Ping++-compatible payment gateway. Amounts are integer fen; \
                     times are Unix seconds. Every response carries X-Pingplusplus-Signature \
                     (RSA-SHA256 of the body with the platform key).",
                )),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build();
    serde_json::to_value(document).unwrap_or(Value::Null)
}

trait SchemasVec {
    fn schemas_vec() -> Vec<(String, RefOr<Schema>)>;
}

impl<T: ToSchema> SchemasVec for T {
    fn schemas_vec() -> Vec<(String, RefOr<Schema>)> {
        let mut schemas = Vec::new();
        T::schemas(&mut schemas);
        schemas
    }
}

/// A request body: its fields (none when `fields` is `None`), or `[]`, which the PHP SDK sends
/// for no parameters and which reads as `{}`.
fn request_body(fields: Option<RefOr<Schema>>) -> RefOr<Schema> {
    let fields = fields.unwrap_or_else(|| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    });
    let empty_list = ArrayBuilder::new()
        .items(ObjectBuilder::new())
        .max_items(Some(0))
        .build();
    RefOr::T(Schema::OneOf(
        OneOfBuilder::new().item(fields).item(empty_list).build(),
    ))
}

fn error_ref() -> RefOr<Schema> {
    Ref::from_schema_name(ErrorBody::name()).into()
}

fn json_content(schema: RefOr<Schema>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn parameter(
    name: &str,
    location: ParameterIn,
    required: bool,
    description: Option<&str>,
    schema: ObjectBuilder,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(description)
        .schema(Some(schema))
        .build()
}

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::DELETE => HttpMethod::Delete,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        _ => HttpMethod::Get,
    }
}
