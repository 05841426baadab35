//! The dashboard's pages as plain server-rendered HTML with a little inline
//! CSS (no scripts, no build step): the layout with its navigation and
//! sign-out form, the sign-in page, the cost table, the gallery and the
//! default-model form. Everything shown from the store or a provider is
//! escaped; pages may not be framed and load images only from this origin.

use crate::auth::server::pages::escape;
use crate::ledger::{Spent, Usage};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}\
header{display:flex;gap:1.2rem;align-items:center;padding:.7rem 1.5rem;background:#1f2933;color:#fff}\
header a{color:#cde;text-decoration:none}header a.on{color:#fff;font-weight:600}header .who{margin-left:auto;font-size:.9rem}\
header form{display:inline}header button{background:none;border:1px solid #789;color:#fff;border-radius:4px;cursor:pointer}\
main{max-width:70rem;margin:1.5rem auto;padding:0 1.5rem}h1{font-size:1.3rem}\
table{border-collapse:collapse;background:#fff}th,td{padding:.4rem .9rem;border-bottom:1px solid #ddd;text-align:right}\
th:first-child,td:first-child{text-align:left}tr.total td{font-weight:600;border-top:2px solid #888}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:1rem}\
.card{background:#fff;border:1px solid #ddd;border-radius:6px;overflow:hidden}.card img{width:100%;display:block;background:#eee}\
.card p{margin:.4rem .6rem;font-size:.85rem}.meta{color:#666}.note{background:#fff4d6;padding:.7rem 1rem;border-radius:6px}\
.ok{background:#e3f6e3;padding:.7rem 1rem;border-radius:6px}a.main,button.main{text-decoration:none;font-size:1rem;padding:.45rem 1.1rem;border-radius:6px;\
border:1px solid #1f6feb;background:#1f6feb;color:#fff;cursor:pointer}select,input{font-size:1rem;padding:.3rem}";

/// Who the page is for: shown in the header with the sign-out form.
pub struct Header<'a> {
    /// The signed-in user's name; `None` on the sign-in page.
    pub user: Option<&'a str>,
    pub admin: bool,
    /// The page's anti-forgery token (for the sign-out form).
    pub csrf: &'a str,
    /// Whether there is a sign-in to end (not for the open local mode).
    pub can_sign_out: bool,
    /// The navigation entry to mark: `usage`, `gallery` or `settings`.
    pub active: &'a str,
}

/// A whole page with the dashboard's security headers; `cookie` is set.
pub fn page(status: StatusCode, title: &str, top: &Header<'_>, body: &str, cookie: Option<String>) -> Response {
    let nav = match top.user {
        Some(user) => {
            let link = |href: &str, key: &str, label: &str| {
                let on = if top.active == key { " class=\"on\"" } else { "" };
                format!("<a href=\"{href}\"{on}>{label}</a>")
            };
            let role = if top.admin { " (admin)" } else { "" };
            let out = if top.can_sign_out {
                format!(
                    "<form method=\"post\" action=\"/ui/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<button type=\"submit\" id=\"sign-out\">Sign out</button></form>",
                    escape(top.csrf)
                )
            } else {
                String::new()
            };
            format!(
                "{}{}{}<span class=\"who\" id=\"who\">{}{role}</span>{out}",
                link("/ui", "usage", "Usage"),
                link("/ui/gallery", "gallery", "Gallery"),
                link("/ui/settings", "settings", "My default model"),
                escape(user)
            )
        }
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{} · Easel</title><style>{STYLE}</style></head><body><header><b>Easel</b>{nav}</header><main>{body}</main></body></html>",
        escape(title)
    );
    // `form-action 'self'` covers where a form's answer redirects, so the
    // sign-in is a link, not a form (it redirects to the provider).
    let csp = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::X_FRAME_OPTIONS, "DENY".to_string()),
            (header::CONTENT_SECURITY_POLICY, csp.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            // Not `no-referrer`: Chromium then sends `Origin: null` with the
            // forms, which the origin check refuses.
            (header::REFERRER_POLICY, "same-origin".to_string()),
        ],
        html,
    )
        .into_response();
    if let Some(value) = cookie.and_then(|c| c.parse().ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The sign-in page: a link to `/ui/login` (which sends the browser to
/// the provider; `?login_hint=EMAIL` there pre-fills the account).
pub fn sign_in(provider: &str, problem: Option<&str>) -> String {
    let problem = problem.map(|p| format!("<p class=\"note\" id=\"problem\">{}</p>", escape(p))).unwrap_or_default();
    format!(
        "<h1>Sign in to Easel</h1>{problem}<p>Sign in with your account at <b>{}</b> to see what you have spent, \
your images and your default model.</p><p><a class=\"main\" href=\"/ui/login\" id=\"sign-in\">Sign in</a></p>",
        escape(provider)
    )
}

/// A note saying the signed-in user may not use this server, and why.
pub fn refusal(why: &str) -> String {
    format!("<h1>Not allowed</h1><p class=\"note\" id=\"refused\">{}</p>", escape(why))
}

fn money(usd: f64) -> String {
    format!("${usd:.2}")
}

fn cells(spent: &Spent) -> String {
    format!("<td>{}</td><td>{}</td>", spent.images, money(spent.usd))
}

/// The cost table: one row per user (newest spenders as the ledger orders
/// them), and a total row when there are several.
pub fn usage(rows: &[Usage], everyone: bool) -> String {
    let title = if everyone { "Spending by user" } else { "Your spending" };
    let mut html = format!(
        "<h1>{title}</h1><p class=\"meta\">Estimated costs, from each provider's declared prices.</p>\
<table id=\"usage\"><thead><tr><th rowspan=\"2\">User</th><th colspan=\"2\">Today</th><th colspan=\"2\">This month</th>\
<th colspan=\"2\">All time</th></tr><tr><th>images</th><th>cost</th><th>images</th><th>cost</th><th>images</th><th>cost</th></tr></thead><tbody>"
    );
    if rows.is_empty() {
        html.push_str("<tr><td colspan=\"7\">Nothing generated yet.</td></tr>");
    }
    for row in rows {
        html.push_str(&format!(
            "<tr class=\"user\"><td><a href=\"/ui/gallery?user={}\">{}</a></td>{}{}{}</tr>",
            escape(&url::form_urlencoded::byte_serialize(row.user.as_bytes()).collect::<String>()),
            escape(&row.user),
            cells(&row.today),
            cells(&row.this_month),
            cells(&row.all_time)
        ));
    }
    if rows.len() > 1 {
        let sum = |pick: fn(&Usage) -> &Spent| Spent {
            images: rows.iter().map(|r| pick(r).images).sum(),
            usd: rows.iter().map(|r| pick(r).usd).sum(),
        };
        html.push_str(&format!(
            "<tr class=\"total\"><td>Total</td>{}{}{}</tr>",
            cells(&sum(|r| &r.today)),
            cells(&sum(|r| &r.this_month)),
            cells(&sum(|r| &r.all_time))
        ));
    }
    html.push_str("</tbody></table>");
    html
}

/// One image in the gallery.
pub struct Card {
    pub id: String,
    /// A thumbnail view (`/i/ID.webp?width=…`), signed when links must be.
    pub thumbnail: String,
    /// The original.
    pub original: String,
    pub prompt: String,
    /// `2026-12-06 14:03 UTC`.
    pub created: String,
    pub model: String,
    pub cost_usd: Option<f64>,
    pub user: Option<String>,
}

/// The gallery page: `cards` newest first; for admins a user picker
/// (`users`, `selected`); a link to the next page when `next` (its cursor,
/// and any `&limit=` to keep) is set.
pub fn gallery(cards: &[Card], users: Option<(&[String], Option<&str>)>, next: Option<String>) -> String {
    let mut html = String::from("<h1>Gallery</h1>");
    let mut keep = String::new();
    if let Some((users, selected)) = users {
        html.push_str("<form method=\"get\" action=\"/ui/gallery\"><label>User <select name=\"user\" id=\"user\">");
        html.push_str(&format!(
            "<option value=\"\"{}>everyone</option>",
            if selected.is_none() { " selected" } else { "" }
        ));
        for user in users {
            let on = if selected == Some(user.as_str()) { " selected" } else { "" };
            html.push_str(&format!("<option value=\"{0}\"{on}>{0}</option>", escape(user)));
        }
        html.push_str("</select></label> <button type=\"submit\">Show</button></form><p></p>");
        if let Some(user) = selected {
            keep = format!("&user={}", url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>());
        }
    }
    if cards.is_empty() {
        html.push_str("<p id=\"empty\">No images yet.</p>");
    }
    html.push_str("<div class=\"grid\" id=\"gallery\">");
    for card in cards {
        let prompt: String = card.prompt.chars().take(300).collect();
        let cost = card.cost_usd.map(|usd| format!(" · {}", money(usd))).unwrap_or_default();
        let user = card.user.as_deref().map(|u| format!("<br>{}", escape(u))).unwrap_or_default();
        html.push_str(&format!(
            "<div class=\"card\" data-id=\"{id}\"><a href=\"{original}\"><img src=\"{thumbnail}\" alt=\"{alt}\" loading=\"lazy\"></a>\
<p class=\"prompt\">{prompt}</p><p class=\"meta\">{created} · <span class=\"model\">{model}</span>{cost}{user}</p></div>",
            id = escape(&card.id),
            original = escape(&card.original),
            thumbnail = escape(&card.thumbnail),
            alt = escape(&prompt),
            prompt = escape(&prompt),
            created = escape(&card.created),
            model = escape(&card.model),
        ));
    }
    html.push_str("</div>");
    if let Some(next) = next {
        html.push_str(&format!(
            "<p><a id=\"older\" href=\"/ui/gallery?cursor={}{}\">Older images →</a></p>",
            escape(&next),
            escape(&keep)
        ));
    }
    html
}

/// A model offered on the settings page.
pub struct Choice {
    pub provider: String,
    pub model: String,
    pub label: String,
}

/// The default-model form; `current`: the chosen `provider/model`.
pub fn settings(choices: &[Choice], current: Option<&str>, csrf: &str, saved: Option<&str>) -> String {
    let mut html = String::from("<h1>My default model</h1>");
    if let Some(saved) = saved {
        html.push_str(&format!("<p class=\"ok\" id=\"saved\">{}</p>", escape(saved)));
    }
    html.push_str(
        "<p>Your requests that name no provider and no model go here. Requests that name one are not changed.</p>\
<form method=\"post\" action=\"/ui/settings\"><select name=\"model\" id=\"model\">",
    );
    html.push_str(&format!(
        "<option value=\"\"{}>the server's default</option>",
        if current.is_none() { " selected" } else { "" }
    ));
    for choice in choices {
        let value = format!("{}/{}", choice.provider, choice.model);
        let on = if current == Some(value.as_str()) { " selected" } else { "" };
        html.push_str(&format!("<option value=\"{}\"{on}>{}</option>", escape(&value), escape(&choice.label)));
    }
    html.push_str(&format!(
        "</select> <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button class=\"main\" type=\"submit\" id=\"save\">Save</button></form>",
        escape(csrf)
    ));
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_prompt_or_user_name_is_shown_as_text() {
        let card = Card {
            id: "abc".into(),
            thumbnail: "/i/abc.webp?width=256".into(),
            original: "/i/abc.png".into(),
            prompt: "<script>alert(1)</script>".into(),
            created: "today".into(),
            model: "m\"><b>".into(),
            cost_usd: Some(0.04),
            user: Some("<i>eve</i>".into()),
        };
        let html = gallery(&[card], None, None);
        assert!(!html.contains("<script>") && !html.contains("<i>eve") && !html.contains("m\"><b>"), "{html}");
        assert!(html.contains("&lt;script&gt;") && html.contains("$0.04"));
        let rows = [Usage {
            user: "<b>x</b>".into(),
            today: Spent::default(),
            this_month: Spent::default(),
            all_time: Spent { images: 2, usd: 0.08 },
        }];
        let html = usage(&rows, true);
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;") && html.contains("<td>2</td><td>$0.08</td>"), "{html}");
    }
}
