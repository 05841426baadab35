//! `/ui`, the dashboard in the browser (served beside `/mcp` over
//! streamable HTTP): what each user has spent (from the cost ledger), a
//! gallery per user (thumbnails through signed `/i/` views), and "my
//! default model" (kept in [`crate::preferences`]). People sign in at the
//! same provider as MCP clients (`[server.auth.login]`: OpenID Connect
//! authorization code with PKCE and a nonce, redirecting to `/ui/callback`)
//! and get a sealed session cookie ([`session`]); the email lists decide on
//! every request who is an admin (everyone's figures and images) and who
//! may not use the server at all. A server with no authentication (only
//! ever on loopback) shows everything to the local user.

pub mod pages;
pub mod session;

use crate::app::App;
use crate::auth::links::LinkSigner;
use crate::auth::server::AuthorizationServer;
use crate::auth::server::grants::random_token;
use crate::auth::{Authenticator, Caller};
use crate::preferences::DefaultModel;
use anyhow::Result;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pages::{Choice, Header};
use session::{LOGIN_COOKIE, LOGIN_LIFETIME, LoginState, SESSION_COOKIE, SESSION_LIFETIME, Sealer, Session};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The dashboard's redirect URI path at the provider.
pub const CALLBACK_PATH: &str = "/ui/callback";
/// Images per gallery page.
pub const PAGE_SIZE: usize = 24;
/// Width of a gallery thumbnail, pixels.
pub const THUMBNAIL_WIDTH: u32 = 320;

/// How people get in.
pub enum SignIn {
    /// No authentication (a loopback server): the local user, an admin.
    Open,
    /// Signing in at the provider of Easel's own authorization server; the
    /// email lists of `policy` decide the rest.
    Login { server: Arc<AuthorizationServer>, policy: Arc<Authenticator> },
    /// The dashboard cannot sign anyone in here, and why.
    Unavailable(String),
}

/// The dashboard of one `easel serve`.
pub struct Dashboard {
    app: Arc<App>,
    sign_in: SignIn,
    sealer: Sealer,
    /// Signs the `/i/` links of thumbnails when `/i/` needs a token.
    links: Option<Arc<LinkSigner>>,
}

/// The signed-in user of a request.
struct Viewer {
    caller: Caller,
    session: Session,
    /// A session cookie to set (the open mode's first visit).
    cookie: Option<String>,
}

type Shared = Arc<Dashboard>;
type Params = HashMap<String, String>;

impl Dashboard {
    /// The dashboard over `app`, keeping its session key in the store.
    ///
    /// Errors: the session key cannot be read or written.
    pub fn new(app: Arc<App>, sign_in: SignIn, links: Option<Arc<LinkSigner>>, https: bool) -> Result<Dashboard> {
        let sealer = Sealer::load_or_create(app.store().root(), https)?;
        Ok(Dashboard { app, sign_in, sealer, links })
    }

    /// The routes: `/ui`, `/ui/gallery`, `/ui/settings`, `/ui/login`,
    /// `/ui/callback`, `/ui/logout`.
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/ui", get(usage))
            .route("/ui/", get(usage))
            .route("/ui/gallery", get(gallery))
            .route("/ui/settings", get(settings).post(save_settings))
            .route("/ui/login", get(login))
            .route(CALLBACK_PATH, get(callback))
            .route("/ui/logout", axum::routing::post(logout))
            .with_state(self)
    }

    /// A page for `viewer`, with its navigation.
    fn show(&self, viewer: Viewer, status: StatusCode, title: &str, active: &str, body: &str) -> Response {
        let (csrf, name) = (self.sealer.csrf(&viewer.session), viewer.caller.label());
        let top = Header {
            user: Some(&name),
            admin: viewer.caller.admin,
            csrf: &csrf,
            can_sign_out: matches!(self.sign_in, SignIn::Login { .. }),
            active,
        };
        pages::page(status, title, &top, body, viewer.cookie.clone())
    }

    /// A page for nobody signed in.
    fn anonymous(&self, status: StatusCode, title: &str, body: &str, cookie: Option<String>) -> Response {
        let top = Header { user: None, admin: false, csrf: "", can_sign_out: false, active: "" };
        pages::page(status, title, &top, body, cookie)
    }

    fn provider_name(&self) -> String {
        match &self.sign_in {
            SignIn::Login { server, .. } => server.upstream().provider().to_string(),
            _ => String::new(),
        }
    }

    /// Who sends `headers`: the session's user, or the page to show instead
    /// (the sign-in page, or why there is no dashboard here).
    #[allow(clippy::result_large_err)]
    fn viewer(&self, headers: &HeaderMap) -> Result<Viewer, Response> {
        let now = crate::auth::links::now();
        let session = self
            .sealer
            .cookie(headers, SESSION_COOKIE)
            .and_then(|sealed| self.sealer.open::<Session>("session", &sealed, now));
        match &self.sign_in {
            SignIn::Unavailable(why) => Err(self.anonymous(
                StatusCode::NOT_FOUND,
                "No dashboard",
                &format!("<h1>No dashboard here</h1><p>{}</p>", crate::auth::server::pages::escape(why)),
                None,
            )),
            SignIn::Open => {
                let (session, cookie) = match session {
                    Some(session) => (session, None),
                    None => {
                        let fresh = Session {
                            sid: random_token(),
                            sub: "local".into(),
                            email: None,
                            email_verified: None,
                            exp: now + SESSION_LIFETIME.as_secs(),
                        };
                        let sealed = self.sealer.seal("session", &fresh);
                        (fresh, Some(self.sealer.set_cookie(SESSION_COOKIE, &sealed, SESSION_LIFETIME)))
                    }
                };
                Ok(Viewer { caller: Caller::local(), session, cookie })
            }
            SignIn::Login { policy, .. } => match session {
                Some(session) => {
                    let caller = policy.caller_for(&session.sub, session.email.as_deref(), session.email_verified);
                    Ok(Viewer { caller, session, cookie: None })
                }
                None => {
                    Err(self.anonymous(StatusCode::OK, "Sign in", &pages::sign_in(&self.provider_name(), None), None))
                }
            },
        }
    }

    /// `viewer`, unless they may not use this server: then the page saying why.
    #[allow(clippy::result_large_err)]
    fn allowed(&self, headers: &HeaderMap, active: &str) -> Result<Viewer, Response> {
        let viewer = self.viewer(headers)?;
        match viewer.caller.refused.clone() {
            Some(why) => Err(self.show(viewer, StatusCode::FORBIDDEN, "Not allowed", active, &pages::refusal(&why))),
            None => Ok(viewer),
        }
    }

    /// `/i/{id}.{ext}?{view}`, signed when `/i/` needs a token.
    fn image_link(&self, id: &str, ext: &str, view: &str) -> String {
        let path = format!("/i/{id}.{ext}");
        match &self.links {
            Some(links) => links.sign(&path, view, crate::auth::links::now()),
            None if view.is_empty() => path,
            None => format!("{path}?{view}"),
        }
    }

    /// The models a user may choose: every generating model of the ready
    /// providers (not the id patterns of catalogue providers, `*/*`).
    async fn choices(&self) -> Vec<Choice> {
        let registry = self.app.registry();
        let mut choices = Vec::new();
        for provider in registry.providers().iter().filter(|p| p.enabled()) {
            if provider.status_within(Duration::from_secs(5)).await != crate::providers::Status::Ready {
                continue;
            }
            let Ok(info) = provider.info_within(Duration::ZERO).await else { continue };
            let generates = |m: &&crate::model::ModelInfo| {
                m.operations.contains(&crate::model::Operation::Generate) && !m.id.contains('*')
            };
            for model in info.models.iter().filter(generates) {
                let price = model.price_per_image_usd.map(|p| format!(", ~${p:.3}/image")).unwrap_or_default();
                choices.push(Choice {
                    provider: provider.id.clone(),
                    model: model.id.clone(),
                    label: format!("{} — {} ({}{price})", provider.id, model.display_name, model.id),
                });
            }
        }
        choices
    }

    /// The default-model page, with `saved` said when a choice was just saved.
    async fn settings_page(&self, viewer: Viewer, status: StatusCode, saved: Option<&str>) -> Response {
        let user = viewer.caller.label();
        let current = self
            .app
            .jobs
            .preferences()
            .and_then(|p| p.default_model(&user))
            .map(|m| format!("{}/{}", m.provider, m.model));
        let choices = self.choices().await;
        let csrf = self.sealer.csrf(&viewer.session);
        let body = pages::settings(&choices, current.as_deref(), &csrf, saved);
        self.show(viewer, status, "My default model", "settings", &body)
    }
}

/// `GET /ui`: the cost table (admins: everyone; others: themselves).
async fn usage(State(ui): State<Shared>, headers: HeaderMap) -> Response {
    let viewer = match ui.allowed(&headers, "usage") {
        Ok(viewer) => viewer,
        Err(page) => return page,
    };
    let everyone = viewer.caller.admin;
    let user = (!everyone).then(|| viewer.caller.label());
    match ui.app.jobs.usage(user).await {
        Ok((rows, _)) => ui.show(viewer, StatusCode::OK, "Usage", "usage", &pages::usage(&rows, everyone)),
        Err(e) => ui.show(viewer, StatusCode::INTERNAL_SERVER_ERROR, "Usage", "usage", &pages::refusal(&e.message)),
    }
}

/// `GET /ui/gallery[?user=&cursor=&limit=]`: the viewer's images (admins:
/// anyone's), newest first, [`PAGE_SIZE`] a page unless `limit` says.
async fn gallery(State(ui): State<Shared>, headers: HeaderMap, Query(params): Query<Params>) -> Response {
    let viewer = match ui.allowed(&headers, "gallery") {
        Ok(viewer) => viewer,
        Err(page) => return page,
    };
    let own = viewer.caller.label();
    let asked = params.get("user").map(|u| u.trim().to_lowercase()).filter(|u| !u.is_empty());
    let user = match (viewer.caller.admin, asked) {
        (true, asked) => asked,
        (false, Some(other)) if other != own.to_lowercase() => {
            let why = format!("only admins see other users' images; you are {own}");
            return ui.show(viewer, StatusCode::FORBIDDEN, "Gallery", "gallery", &pages::refusal(&why));
        }
        (false, _) => Some(own),
    };
    let store = ui.app.store().clone();
    let catalog = tokio::task::spawn_blocking(move || store.catalog()).await;
    let all = match catalog {
        Ok(Ok(catalog)) => catalog.images,
        Ok(Err(e)) => {
            return ui.show(
                viewer,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Gallery",
                "gallery",
                &pages::refusal(&format!("{e:#}")),
            );
        }
        Err(e) => {
            return ui.show(
                viewer,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Gallery",
                "gallery",
                &pages::refusal(&e.to_string()),
            );
        }
    };
    let mut users: Vec<String> = all.iter().filter_map(|s| s.user.clone()).collect();
    users.sort();
    users.dedup();
    let filter = crate::store::gallery::Filter { user: user.clone(), ..Default::default() };
    let limit = params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(PAGE_SIZE);
    let (items, next) = match crate::store::gallery::page(all, &filter, params.get("cursor").map(String::as_str), limit)
    {
        Ok(page) => page,
        Err(why) => return ui.show(viewer, StatusCode::BAD_REQUEST, "Gallery", "gallery", &pages::refusal(&why)),
    };
    let cards: Vec<pages::Card> = items
        .iter()
        .map(|s| pages::Card {
            id: s.id.clone(),
            thumbnail: ui.image_link(&s.id, "webp", &format!("width={THUMBNAIL_WIDTH}")),
            original: ui.image_link(&s.id, crate::store::extension(&s.mime_type), ""),
            prompt: s.prompt.clone().or_else(|| s.revised_prompt.clone()).unwrap_or_default(),
            created: s.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            model: match (&s.provider, &s.model) {
                (Some(p), Some(m)) => format!("{p} / {m}"),
                (_, m) => m.clone().unwrap_or_else(|| "imported".into()),
            },
            cost_usd: s.cost_estimate_usd,
            user: viewer.caller.admin.then(|| s.user.clone()).flatten(),
        })
        .collect();
    let picker = viewer.caller.admin.then_some((users.as_slice(), user.as_deref()));
    let next = next.map(|cursor| if limit == PAGE_SIZE { cursor } else { format!("{cursor}&limit={limit}") });
    ui.show(viewer, StatusCode::OK, "Gallery", "gallery", &pages::gallery(&cards, picker, next))
}

/// `GET /ui/settings`: the default-model form.
async fn settings(State(ui): State<Shared>, headers: HeaderMap) -> Response {
    match ui.allowed(&headers, "settings") {
        Ok(viewer) => ui.settings_page(viewer, StatusCode::OK, None).await,
        Err(page) => page,
    }
}

/// `POST /ui/settings` (`model=PROVIDER/MODEL` or empty, `csrf`): save the choice.
async fn save_settings(State(ui): State<Shared>, headers: HeaderMap, Form(form): Form<Params>) -> Response {
    let viewer = match ui.allowed(&headers, "settings") {
        Ok(viewer) => viewer,
        Err(page) => return page,
    };
    if !form.get("csrf").is_some_and(|token| ui.sealer.csrf_matches(&viewer.session, token)) {
        let why = "this form did not come from your dashboard page; reload the page and try again";
        return ui.show(viewer, StatusCode::FORBIDDEN, "My default model", "settings", &pages::refusal(why));
    }
    let Some(preferences) = ui.app.jobs.preferences().cloned() else {
        return ui.show(
            viewer,
            StatusCode::INTERNAL_SERVER_ERROR,
            "My default model",
            "settings",
            &pages::refusal("this easel keeps no preferences"),
        );
    };
    let value = form.get("model").map(|m| m.trim()).unwrap_or("");
    let chosen = if value.is_empty() {
        None
    } else {
        let choices = ui.choices().await;
        match value.split_once('/').filter(|(p, m)| choices.iter().any(|c| c.provider == *p && c.model == *m)) {
            Some((provider, model)) => Some(DefaultModel { provider: provider.into(), model: model.into() }),
            None => {
                let why = format!(
                    "`model`: `{value}` is not a generating model of a provider configured here; pick one from the list"
                );
                return ui.show(viewer, StatusCode::BAD_REQUEST, "My default model", "settings", &pages::refusal(&why));
            }
        }
    };
    let said = match &chosen {
        Some(m) => format!("Saved: your requests that name no model now go to {} / {}.", m.provider, m.model),
        None => "Saved: your requests that name no model go to the server's default.".to_string(),
    };
    if let Err(e) = preferences.set_default_model(&viewer.caller.label(), chosen).await {
        return ui.show(
            viewer,
            StatusCode::INTERNAL_SERVER_ERROR,
            "My default model",
            "settings",
            &pages::refusal(&format!("{e:#}")),
        );
    }
    ui.settings_page(viewer, StatusCode::OK, Some(&said)).await
}

/// `GET /ui/login[?login_hint=EMAIL]`: off to the provider.
async fn login(State(ui): State<Shared>, Query(params): Query<Params>) -> Response {
    let SignIn::Login { server, .. } = &ui.sign_in else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui")]).into_response();
    };
    let upstream = server.upstream();
    let (state, nonce) = (random_token(), random_token());
    let hint = params.get("login_hint").map(|h| h.trim()).filter(|h| !h.is_empty() && h.len() <= 320);
    let redirect = upstream.redirect_uri_at(CALLBACK_PATH);
    let (url, verifier) = match upstream.authorize_url(&redirect, &state, &nonce, hint).await {
        Ok(made) => made,
        Err(e) => {
            let problem = format!("cannot reach the sign-in provider: {e:#}");
            return ui.anonymous(
                StatusCode::BAD_GATEWAY,
                "Sign in",
                &pages::sign_in(&ui.provider_name(), Some(&problem)),
                None,
            );
        }
    };
    let pending = LoginState { state, nonce, verifier, exp: crate::auth::links::now() + LOGIN_LIFETIME.as_secs() };
    let cookie = ui.sealer.set_cookie(LOGIN_COOKIE, &ui.sealer.seal("login", &pending), LOGIN_LIFETIME);
    (
        StatusCode::FOUND,
        [(header::LOCATION, url), (header::SET_COOKIE, cookie), (header::CACHE_CONTROL, "no-store".into())],
    )
        .into_response()
}

/// `GET /ui/callback?code=&state=`: the provider's answer; a session on success.
async fn callback(State(ui): State<Shared>, headers: HeaderMap, Query(params): Query<Params>) -> Response {
    let SignIn::Login { server, .. } = &ui.sign_in else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui")]).into_response();
    };
    let provider = ui.provider_name();
    let retry = |problem: &str| {
        ui.anonymous(StatusCode::BAD_REQUEST, "Sign in", &pages::sign_in(&provider, Some(problem)), None)
    };
    let now = crate::auth::links::now();
    let pending = ui.sealer.cookie(&headers, LOGIN_COOKIE).and_then(|c| ui.sealer.open::<LoginState>("login", &c, now));
    let Some(pending) = pending.filter(|p| params.get("state") == Some(&p.state)) else {
        return retry("this sign-in was not started in this browser, or took longer than 10 minutes; sign in again");
    };
    if let Some(error) = params.get("error") {
        let description = params.get("error_description").map(String::as_str).unwrap_or("");
        return retry(&format!("the provider did not sign you in: {error} {description}"));
    }
    let Some(code) = params.get("code") else { return retry("the provider sent no code; sign in again") };
    let upstream = server.upstream();
    let redirect = upstream.redirect_uri_at(CALLBACK_PATH);
    let identity = match upstream.identity(&redirect, code, &pending.verifier, &pending.nonce).await {
        Ok(identity) => identity,
        Err(e) => return retry(&format!("{e:#}")),
    };
    let session = Session {
        sid: random_token(),
        sub: identity.subject,
        email: identity.email,
        email_verified: identity.email_verified,
        exp: now + SESSION_LIFETIME.as_secs(),
    };
    let mut response =
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui"), (header::CACHE_CONTROL, "no-store")]).into_response();
    for cookie in [
        ui.sealer.set_cookie(SESSION_COOKIE, &ui.sealer.seal("session", &session), SESSION_LIFETIME),
        ui.sealer.set_cookie(LOGIN_COOKIE, "", Duration::ZERO),
    ] {
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `POST /ui/logout` (`csrf`): forget the session cookie.
async fn logout(State(ui): State<Shared>, headers: HeaderMap, Form(form): Form<Params>) -> Response {
    let viewer = match ui.viewer(&headers) {
        Ok(viewer) => viewer,
        Err(page) => return page,
    };
    if !form.get("csrf").is_some_and(|token| ui.sealer.csrf_matches(&viewer.session, token)) {
        let why = "this form did not come from your dashboard page; reload the page and try again";
        return ui.show(viewer, StatusCode::FORBIDDEN, "Sign out", "", &pages::refusal(why));
    }
    let clear = ui.sealer.set_cookie(SESSION_COOKIE, "", Duration::ZERO);
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui".to_string()), (header::SET_COOKIE, clear)]).into_response()
}
