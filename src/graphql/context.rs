//! What every resolver can reach: the database, the viewer and the request's
//! metadata.

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use crate::db::Limited;
use crate::domain::Viewer;
use crate::domain::audit::AuditContext;
use crate::domain::money::MoneyPolicy;
use crate::domain::webhooks::Webhooks;
use crate::error::AppError;
use crate::graphql::loaders::Loaders;

/// Facts about the HTTP request, for logs, audit rows and error extensions.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The request's `X-Request-ID`.
    pub request_id: String,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

/// Per-request data: who is asking, and the request's metadata.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The authenticated user, or `None` for anonymous requests.
    pub viewer: Option<Viewer>,
    /// Request metadata.
    pub meta: RequestMeta,
}

/// Typed access to the schema and request data.
pub trait ContextExt {
    /// The pool for reads, limited to a few statements at once per request
    /// (`COURIER_DB_MAX_PER_REQUEST`).
    fn db(&self) -> &Limited;
    /// The pool itself, for mutations (transactions).
    fn pool(&self) -> &DatabaseConnection;
    /// The per-request data.
    fn request(&self) -> &RequestContext;
    /// How money mutations behave (fee rate, idempotency key lifetime).
    fn money(&self) -> &MoneyPolicy;
    /// The request's dataloaders.
    fn loaders(&self) -> &Loaders;
    /// The webhook policy and this instance's circuit breakers.
    fn webhooks(&self) -> &Webhooks;
    /// The viewer, if any.
    fn viewer(&self) -> Option<&Viewer> {
        self.request().viewer.as_ref()
    }
    /// Who is acting and from where, for the audit trail.
    fn audit_context(&self) -> AuditContext {
        let request = self.request();
        AuditContext {
            actor_id: request.viewer.map(|v| v.id),
            request_id: Some(request.meta.request_id.clone()),
            ip: request.meta.ip.clone(),
            user_agent: request.meta.user_agent.clone(),
        }
    }
    /// The viewer, or UNAUTHENTICATED.
    fn require_viewer(&self) -> Result<&Viewer, AppError> {
        self.viewer().ok_or_else(|| AppError::Unauthenticated("Sign in to see this".into()))
    }
    /// The viewer if an admin; UNAUTHENTICATED or FORBIDDEN otherwise.
    fn require_admin(&self) -> Result<&Viewer, AppError> {
        let viewer = self.require_viewer()?;
        if viewer.is_admin() { Ok(viewer) } else { Err(AppError::Forbidden("Admins only".into())) }
    }
}

impl ContextExt for Context<'_> {
    fn db(&self) -> &Limited {
        self.data_unchecked::<Limited>()
    }

    fn pool(&self) -> &DatabaseConnection {
        self.data_unchecked::<DatabaseConnection>()
    }

    fn loaders(&self) -> &Loaders {
        // A request's own loaders; a WebSocket connection shares one set
        // (cleared before each event) behind an `Arc`.
        match self.data_opt::<Loaders>() {
            Some(loaders) => loaders,
            None => self.data_unchecked::<std::sync::Arc<Loaders>>(),
        }
    }

    fn money(&self) -> &MoneyPolicy {
        self.data_unchecked::<MoneyPolicy>()
    }

    fn webhooks(&self) -> &Webhooks {
        self.data_unchecked::<Webhooks>()
    }

    fn request(&self) -> &RequestContext {
        static ANONYMOUS: std::sync::OnceLock<RequestContext> = std::sync::OnceLock::new();
        self.data_opt::<RequestContext>().unwrap_or_else(|| ANONYMOUS.get_or_init(RequestContext::default))
    }
}
