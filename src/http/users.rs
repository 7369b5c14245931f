//! People and credentials: logging in and out with a session cookie (failed logins
//! throttled per client address and per username), users with argon2id password hashes,
//! and API tokens whose value is shown once. No password, token or cookie value is ever
//! logged or answered after creation: the log keeps argon2id and SHA-256 hashes.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration as StdDuration, Instant};

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::auth::{self, hash_token, session_clear_cookie, session_cookie, session_set_cookie};
use super::params::{from_json, if_match, invalid, wait_min_position};
use super::{answered, AppState, Problem};
use crate::command::{
    create_token as create_token_in, execute, fresh, Cause, CommandAnswer, CommandError,
    TokenRequest,
};
use crate::config::AuthSettings;
use crate::domain::session::{self, SessionCommand};
use crate::domain::token::{self, TokenCommand};
use crate::domain::user::{self, UserCommand, MAX_PASSWORD, MAX_USERNAME};
use crate::domain::DomainError;
use crate::events::{
    Actor as EventActor, Event, ExpectedVersion, Role, StoreError, StreamId, StreamVersion,
};
use crate::projections::{SessionEntry, TokenEntry, UserEntry};

/// The most client addresses, and the most usernames, whose failed logins are remembered.
const MAX_TRACKED: usize = 10_000;
/// The one answer to a failed login: it does not tell an unknown user from a wrong password.
const WRONG_CREDENTIALS: &str = "wrong username or password";

/// Why a password could not be hashed or checked (not why it is wrong).
#[derive(Debug, thiserror::Error)]
enum PasswordError {
    /// argon2 refused its input or parameters.
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    /// The blocking pool could not run the work.
    #[error("password hashing did not run: {0}")]
    Blocking(#[from] actix_web::error::BlockingError),
}

impl From<PasswordError> for Problem {
    fn from(e: PasswordError) -> Problem {
        tracing::error!(error = %e, "password hashing failed");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

// ---- passwords ----

/// A new argon2id hash (default parameters, random salt) of `password`, in PHC form.
async fn hash_password(password: SecretString) -> Result<String, PasswordError> {
    web::block(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(PasswordError::Hash)
    })
    .await?
}

/// A hash of no one's password, so a login for an unknown user costs what a real one does.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let mut random = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(hex::encode(random).as_bytes(), &salt)
        .map(|h| h.to_string())
        .ok()
});

/// Whether `password` matches the PHC hash `phc`; with no hash, runs against a dummy and says no.
async fn verify_password(
    password: SecretString,
    phc: Option<String>,
) -> Result<bool, PasswordError> {
    web::block(move || {
        let known = phc.is_some();
        let Some(phc) = phc.or_else(|| DUMMY_HASH.clone()) else {
            return false;
        };
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
    .map_err(PasswordError::from)
}

// ---- login throttling ----

/// Recent failed logins of each key (a client address or a username), oldest first.
struct Throttle<K> {
    failures: HashMap<K, VecDeque<Instant>>,
}

impl<K: Eq + Hash + Clone> Throttle<K> {
    fn new() -> Throttle<K> {
        Throttle {
            failures: HashMap::new(),
        }
    }

    /// How long `key` must wait, if it has `limit` failures within `window` of `now`.
    fn wait(
        &self,
        key: &K,
        now: Instant,
        limit: usize,
        window: StdDuration,
    ) -> Option<StdDuration> {
        let recent = self.failures.get(key)?;
        let in_window: Vec<&Instant> = recent
            .iter()
            .filter(|t| now.duration_since(**t) < window)
            .collect();
        if in_window.len() < limit {
            return None;
        }
        // Allowed again once enough of the counted failures leave the window.
        let freeing = in_window[in_window.len() - limit];
        Some((*freeing + window).saturating_duration_since(now))
    }

    /// Counts a failure of `key` at `now`, keeping at most `limit` per key and
    /// [`MAX_TRACKED`] keys (stale ones go first, then those that failed longest ago).
    fn add(&mut self, key: K, now: Instant, limit: usize, window: StdDuration) {
        if !self.failures.contains_key(&key) && self.failures.len() >= MAX_TRACKED {
            self.prune(now, window);
            if self.failures.len() >= MAX_TRACKED {
                let quietest = self
                    .failures
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(k, _)| k.clone());
                if let Some(k) = quietest {
                    self.failures.remove(&k);
                }
            }
        }
        let times = self.failures.entry(key).or_default();
        times.push_back(now);
        while times.len() > limit {
            times.pop_front();
        }
    }

    /// Takes back one failure of `key` counted at `at`.
    fn undo(&mut self, key: &K, at: Instant) {
        if let Some(times) = self.failures.get_mut(key) {
            if let Some(i) = times.iter().rposition(|t| *t == at) {
                times.remove(i);
            }
            if times.is_empty() {
                self.failures.remove(key);
            }
        }
    }

    /// Forgets every failure of `key`.
    fn clear(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// Forgets the keys none of whose failures are within `window` of `now`.
    fn prune(&mut self, now: Instant, window: StdDuration) {
        self.failures.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.duration_since(*t) < window)
        });
    }
}

/// Failed logins per client address and per username, in memory.
struct LoginLimiter {
    by_client: Throttle<IpAddr>,
    by_user: Throttle<String>,
    pruned: Option<Instant>,
}

/// The limits of [`LoginLimiter`], from `[auth]`.
#[derive(Copy, Clone)]
struct Limits {
    attempts: usize,
    window: StdDuration,
}

impl Limits {
    fn of(settings: &AuthSettings) -> Limits {
        Limits {
            attempts: settings.login_attempts.max(1) as usize,
            window: StdDuration::from_secs(settings.login_window_s.max(1)),
        }
    }
}

impl LoginLimiter {
    /// Counts an attempt before its password is checked (so parallel guesses are counted
    /// too), or says how long to wait if the client or the username is out of attempts.
    fn begin(
        &mut self,
        client: IpAddr,
        user: &str,
        now: Instant,
        limits: Limits,
    ) -> Result<(), StdDuration> {
        if self
            .pruned
            .is_none_or(|t| now.duration_since(t) >= limits.window)
        {
            self.by_client.prune(now, limits.window);
            self.by_user.prune(now, limits.window);
            self.pruned = Some(now);
        }
        let user = user.to_owned();
        let wait = [
            self.by_client
                .wait(&client, now, limits.attempts, limits.window),
            self.by_user
                .wait(&user, now, limits.attempts, limits.window),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        self.by_client
            .add(client, now, limits.attempts, limits.window);
        self.by_user.add(user, now, limits.attempts, limits.window);
        Ok(())
    }

    /// A login that began at `at` succeeded: it was no failure, and the user's count starts over.
    fn succeeded(&mut self, client: IpAddr, user: &str, at: Instant) {
        self.by_client.undo(&client, at);
        self.by_user.clear(&user.to_owned());
    }
}

/// One limiter for the process: the HTTP workers share it, so a client cannot spread its
/// guesses across them. (`AppState` has no room for it without changing the server's start.)
static LOGIN_LIMITER: LazyLock<Mutex<LoginLimiter>> = LazyLock::new(|| {
    Mutex::new(LoginLimiter {
        by_client: Throttle::new(),
        by_user: Throttle::new(),
        pruned: None,
    })
});

fn limiter() -> MutexGuard<'static, LoginLimiter> {
    match LOGIN_LIMITER.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn too_many(wait: StdDuration) -> HttpResponse {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let problem = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed logins: try again in {seconds} s"),
    );
    let mut res = actix_web::ResponseError::error_response(&problem);
    if let Ok(value) = header::HeaderValue::from_str(&seconds.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, value);
    }
    res
}

// ---- login and logout ----

/// The body of `POST /api/v1/login`; its `Debug` shows no password.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginInput {
    username: Option<String>,
    password: Option<SecretString>,
}

/// A new session cookie value: `wfs_` and 64 hex digits from the OS's random source.
fn new_session_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("wfs_{}", hex::encode(bytes))
}

/// `POST /api/v1/login`: checks a user's password and answers with a session cookie.
#[tracing::instrument(skip_all)]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let input: LoginInput = from_json(body.into_inner())?;
    let username = input
        .username
        .ok_or_else(|| invalid("username", "is required"))?;
    let password = input
        .password
        .ok_or_else(|| invalid("password", "is required"))?;
    let client = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    // Bounded, so a huge name cannot grow the limiter; no real username is this long.
    let user_key: String = username.chars().take(MAX_USERNAME + 1).collect();
    let started = Instant::now();
    if let Err(wait) = limiter().begin(client, &user_key, started, Limits::of(&state.settings.auth))
    {
        tracing::warn!(client = %client, "login refused: too many failures");
        return Ok(too_many(wait));
    }
    let user = state.tokens.read().user(&username).cloned();
    let fits = password.expose_secret().chars().count() <= MAX_PASSWORD;
    let matches = verify_password(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    let Some(user) = user.filter(|_| fits && matches) else {
        tracing::info!(client = %client, "login failed");
        return Err(Problem::new(StatusCode::UNAUTHORIZED, WRONG_CREDENTIALS));
    };
    limiter().succeeded(client, &user_key, started);

    let hours = i64::from(state.settings.auth.session_hours);
    let value = new_session_value();
    let session_id = Uuid::new_v4();
    let asked = SessionCommand::Open {
        id: session_id,
        username: user.username.clone(),
        token_hash: hash_token(&value),
        now: state.clock.now(),
        lifetime: Duration::hours(hours),
    };
    let events = session::decide(None, asked)?;
    let expires_at = events.iter().find_map(|e| match e {
        Event::SessionOpened(s) => Some(s.expires_at),
        _ => None,
    });
    let by = EventActor(format!("user:{}", user.username));
    let answer = execute(
        &state.store,
        StreamId::session(session_id),
        ExpectedVersion::NoStream,
        events,
        &by,
    )
    .await?
    .visible_in(state.tokens.progress())
    .await;
    tracing::info!(username = %user.username, session_id = %session_id, client = %client, "logged in");
    Ok(answered(StatusCode::OK, &answer)
        .insert_header((
            header::SET_COOKIE,
            session_set_cookie(&value, hours * 3600, &state.settings.auth),
        ))
        .json(json!({
            "username": user.username,
            "role": user.role.as_str(),
            "expires_at": expires_at,
        })))
}

/// `POST /api/v1/logout`: ends the cookie's session and clears the cookie.
#[tracing::instrument(skip_all)]
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let clear = session_clear_cookie(&state.settings.auth);
    let refuse = |problem: Problem| {
        let mut res = actix_web::ResponseError::error_response(&problem);
        if let Ok(value) = header::HeaderValue::from_str(&clear) {
            res.headers_mut().insert(header::SET_COOKIE, value);
        }
        res
    };
    let Some(value) = session_cookie(&req) else {
        return actix_web::ResponseError::error_response(&Problem::new(
            StatusCode::UNAUTHORIZED,
            "no session to end: log in at POST /api/v1/login",
        ));
    };
    let who = match auth::authenticate_token(&value, &state) {
        Ok(who) => who,
        Err(problem) => return refuse(problem),
    };
    if who.user.is_none() {
        return refuse(Problem::new(
            StatusCode::UNAUTHORIZED,
            "the cookie holds no session",
        ));
    }
    let current = state
        .tokens
        .read()
        .session_by_id(who.id)
        .map(SessionEntry::state);
    let closed = match session::decide(current.as_ref(), SessionCommand::Close { id: who.id }) {
        Ok(events) => {
            let version = current.map_or(0, |s| s.version);
            execute(
                &state.store,
                StreamId::session(who.id),
                ExpectedVersion::Exact(StreamVersion(version)),
                events,
                &who.actor(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    };
    match closed {
        Ok(answer) => {
            let answer = answer.visible_in(state.tokens.progress()).await;
            tracing::info!(session_id = %who.id, "logged out");
            answered(StatusCode::NO_CONTENT, &answer)
                .insert_header((header::SET_COOKIE, clear.clone()))
                .finish()
        }
        // Closed meanwhile, by another logout or a new password.
        Err(
            CommandError::Store(StoreError::Conflict { .. })
            | CommandError::Domain(DomainError::NotFound(_)),
        ) => refuse(Problem::new(
            StatusCode::UNAUTHORIZED,
            "the session was closed (logged out): log in again",
        )),
        Err(e) => actix_web::ResponseError::error_response(&Problem::from(e)),
    }
}

// ---- users ----

/// The body of `POST /api/v1/users`; its `Debug` shows no password.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserInput {
    username: Option<String>,
    password: Option<SecretString>,
    role: Option<String>,
}

/// The stream of a user whose name was checked: a name a stream id cannot hold is a bug.
fn user_stream(username: &str) -> Result<StreamId, Problem> {
    StreamId::user(username).map_err(|e| Problem::internal(&e))
}

fn user_json(u: &crate::projections::UserEntry) -> Value {
    json!({"username": u.username, "role": u.role.as_str(), "created_at": u.created_at})
}

/// `POST /api/v1/users`: a user who may log in (admin).
#[tracing::instrument(skip_all)]
pub async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Admin)?;
    let input: UserInput = from_json(body.into_inner())?;
    let username = input
        .username
        .ok_or_else(|| invalid("username", "is required"))?;
    user::username(&username)?;
    let password = input
        .password
        .ok_or_else(|| invalid("password", "is required"))?;
    user::check_password(password.expose_secret())?;
    let role = user::role(input.role.as_deref())?;
    fresh(&state.store, state.tokens.progress()).await;
    let current = state.tokens.read().user(&username).map(UserEntry::state);
    let stream = user_stream(&username)?;
    // A deleted user's stream lives on: a new user of that name continues it.
    let lookup = (state.store.clone(), stream.clone());
    let expected = web::block(move || lookup.0.stream_version(&lookup.1))
        .await
        .map_err(|e| Problem::internal(&e))??
        .map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
    let password_hash = hash_password(password).await?;
    let asked = UserCommand::Create {
        username: username.clone(),
        role,
        password_hash,
    };
    let events = user::decide(current.as_ref(), asked)?;
    let exists = || DomainError::Conflict(format!("the user {username} exists")).into();
    let answer = execute(&state.store, stream, expected, events, &who.actor())
        .await
        .map_err(|e| Problem::unless_conflict(e, exists))?
        .visible_in(state.tokens.progress())
        .await;
    tracing::info!(username = %username, role = role.as_str(), "user created");
    let body = state
        .tokens
        .read()
        .user(&username)
        .map(user_json)
        .unwrap_or_else(|| json!({"username": username, "role": role.as_str()}));
    Ok(answered(StatusCode::CREATED, &answer)
        .insert_header((header::LOCATION, format!("/api/v1/users/{username}")))
        .json(body))
}

/// `GET /api/v1/users`: every user, without password hashes (admin).
pub async fn list_users(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Admin)?;
    wait_min_position(&req, &state.tokens).await?;
    let users: Vec<Value> = state.tokens.read().users().map(user_json).collect();
    Ok(HttpResponse::Ok().json(json!({"users": users})))
}

/// The body of `PATCH /api/v1/users/{name}`; its `Debug` shows no password.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    password: Option<SecretString>,
    role: Option<String>,
}

/// `PATCH /api/v1/users/{name}`: a new role, a new password, or both (admin). A new password
/// ends the user's other sessions.
#[tracing::instrument(skip_all, fields(username = %path.as_str()))]
pub async fn patch_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Admin)?;
    let username = path.into_inner();
    if !user::is_username(&username) {
        return Err(Problem::not_found("user"));
    }
    let input: UserPatch = from_json(body.into_inner())?;
    if let Some(password) = &input.password {
        user::check_password(password.expose_secret())?;
    }
    let role = input
        .role
        .as_deref()
        .map(|r| user::role(Some(r)))
        .transpose()?;
    fresh(&state.store, state.tokens.progress()).await;
    let current = state.tokens.read().user(&username).map(UserEntry::state);
    let new_password = input.password.is_some();
    let password_hash = match input.password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let asked = UserCommand::Update {
        username: username.clone(),
        role,
        password_hash,
        expected: if_match(&req)?,
    };
    let events = user::decide(current.as_ref(), asked)?;
    let version = current.map_or(0, |c| c.version);
    let changed = || {
        DomainError::Conflict(format!(
            "the user {username} changed meanwhile: read it again"
        ))
        .into()
    };
    let answer = execute(
        &state.store,
        user_stream(&username)?,
        ExpectedVersion::Exact(StreamVersion(version)),
        events,
        &who.actor(),
    )
    .await
    .map_err(|e| Problem::unless_conflict(e, changed))?
    .visible_in(state.tokens.progress())
    .await;
    let mut position = answer.position;
    if new_password {
        let others: Vec<Uuid> = state
            .tokens
            .read()
            .open_sessions_of(&username, state.clock.now())
            .into_iter()
            .filter(|id| who.user.is_none() || *id != who.id)
            .collect();
        for id in others {
            let current = state
                .tokens
                .read()
                .session_by_id(id)
                .map(SessionEntry::state);
            // Refused: it closed meanwhile, and there is nothing left to end.
            let Ok(events) = session::decide(current.as_ref(), SessionCommand::Close { id }) else {
                continue;
            };
            let closed = execute(
                &state.store,
                StreamId::session(id),
                ExpectedVersion::Exact(StreamVersion(current.map_or(0, |s| s.version))),
                events,
                &who.actor(),
            )
            .await;
            match closed {
                Ok(closed) => position = closed.visible_in(state.tokens.progress()).await.position,
                // Its stream moved on: it just closed.
                Err(CommandError::Store(StoreError::Conflict { .. })) => {}
                Err(other) => return Err(other.into()),
            }
        }
    }
    tracing::info!(username = %username, password_changed = new_password, "user updated");
    let body = state
        .tokens
        .read()
        .user(&username)
        .map(user_json)
        .unwrap_or_else(|| json!({"username": username}));
    Ok(answered(StatusCode::OK, &CommandAnswer { position, ..answer }).json(body))
}

/// `DELETE /api/v1/users/{name}`: the user may no longer log in, and their sessions end (admin).
#[tracing::instrument(skip_all, fields(username = %path.as_str()))]
pub async fn delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Admin)?;
    let username = path.into_inner();
    if !user::is_username(&username) {
        return Err(Problem::not_found("user"));
    }
    fresh(&state.store, state.tokens.progress()).await;
    let current = state.tokens.read().user(&username).map(UserEntry::state);
    let asked = UserCommand::Delete {
        username: username.clone(),
    };
    let events = user::decide(current.as_ref(), asked)?;
    let version = current.map_or(0, |c| c.version);
    let answer = execute(
        &state.store,
        user_stream(&username)?,
        ExpectedVersion::Exact(StreamVersion(version)),
        events,
        &who.actor(),
    )
    .await
    // Its stream moved on: deleted meanwhile.
    .map_err(|e| Problem::unless_conflict(e, || Problem::not_found("user")))?
    .visible_in(state.tokens.progress())
    .await;
    tracing::info!(username = %username, "user deleted");
    Ok(answered(StatusCode::OK, &answer).json(json!({"username": username, "deleted": true})))
}

// ---- API tokens ----

/// The body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenInput {
    name: Option<String>,
    role: Option<String>,
    expires_at: Option<DateTime<Utc>>,
}

fn token_json(t: &TokenEntry) -> Value {
    json!({
        "id": t.id, "name": t.name, "role": t.role.as_str(), "created_at": t.created_at,
        "expires_at": t.expires_at, "revoked_at": t.revoked_at,
    })
}

/// `POST /api/v1/tokens`: a new API token; its value is in this answer and nowhere else (admin).
#[tracing::instrument(skip_all)]
pub async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Admin)?;
    let input: TokenInput = from_json(body.into_inner())?;
    let name = input.name.ok_or_else(|| invalid("name", "is required"))?;
    let role = user::role(input.role.as_deref())?;
    let request = TokenRequest {
        name,
        role,
        expires_at: input.expires_at,
        value: None,
    };
    let created = create_token_in(
        &state.store,
        request,
        state.clock.now(),
        &Cause::by(who.actor()),
    )
    .await?;
    let answer = created.answer.visible_in(state.tokens.progress()).await;
    tracing::info!(token_id = %created.id, role = role.as_str(), "token created");
    let created_at = state.tokens.read().token(created.id).map(|t| t.created_at);
    Ok(answered(StatusCode::CREATED, &answer).json(json!({
        "id": created.id,
        "name": created.name,
        "role": role.as_str(),
        "token": created.value,
        "created_at": created_at,
        "expires_at": input.expires_at,
    })))
}

/// `GET /api/v1/me`: who the credential is (any role): the user of a session or the
/// API token, with its role, so a client such as the dashboard knows what it may offer.
pub async fn me(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let entry = auth::authenticate(&req, &state)?;
    let (kind, name) = match &entry.user {
        Some(user) => ("session", user.clone()),
        None => ("token", entry.name.clone()),
    };
    Ok(HttpResponse::Ok().json(json!({
        "kind": kind,
        "name": name,
        "role": entry.role.as_str(),
        "expires_at": entry.expires_at,
    })))
}

/// `GET /api/v1/tokens`: every API token, never its value or hash (admin).
pub async fn list_tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Admin)?;
    wait_min_position(&req, &state.tokens).await?;
    let tokens: Vec<Value> = state
        .tokens
        .read()
        .tokens()
        .into_iter()
        .map(token_json)
        .collect();
    Ok(HttpResponse::Ok().json(json!({"tokens": tokens})))
}

/// `DELETE /api/v1/tokens/{id}`: revokes the token from now on (admin).
#[tracing::instrument(skip_all, fields(token_id = %path.as_str()))]
pub async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Admin)?;
    let token_id = Uuid::parse_str(&path).map_err(|_| Problem::not_found("token"))?;
    fresh(&state.store, state.tokens.progress()).await;
    let current = state.tokens.read().token(token_id).map(TokenEntry::state);
    let events = token::decide(current.as_ref(), TokenCommand::Revoke { id: token_id })?;
    let version = current.map_or(0, |t| t.version);
    let answer = execute(
        &state.store,
        StreamId::token(token_id),
        ExpectedVersion::Exact(StreamVersion(version)),
        events,
        &who.actor(),
    )
    .await
    // Its stream moved on: revoked meanwhile.
    .map_err(|e| Problem::unless_conflict(e, || Problem::not_found("token")))?
    .visible_in(state.tokens.progress())
    .await;
    tracing::info!(token_id = %token_id, "token revoked");
    let body = state
        .tokens
        .read()
        .token(token_id)
        .map(token_json)
        .unwrap_or_else(|| json!({"id": token_id}));
    Ok(answered(StatusCode::OK, &answer).json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        attempts: 3,
        window: StdDuration::from_secs(60),
    };

    fn new_limiter() -> LoginLimiter {
        LoginLimiter {
            by_client: Throttle::new(),
            by_user: Throttle::new(),
            pruned: None,
        }
    }

    #[test]
    fn logins_are_throttled_per_client_and_per_user_within_the_window() {
        let mut l = new_limiter();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l
                .begin(a, "ann", t0 + StdDuration::from_secs(i), LIMITS)
                .is_ok());
        }
        let wait = l
            .begin(a, "bob", t0 + StdDuration::from_secs(10), LIMITS)
            .expect_err("the client is out of attempts");
        assert_eq!(wait, StdDuration::from_secs(50));
        let wait = l
            .begin(b, "ann", t0 + StdDuration::from_secs(10), LIMITS)
            .expect_err("the user is out of attempts from any client");
        assert_eq!(wait, StdDuration::from_secs(50));
        assert!(l
            .begin(a, "ann", t0 + StdDuration::from_secs(60), LIMITS)
            .is_ok());
    }

    #[test]
    fn a_successful_login_is_not_counted_and_clears_the_user() {
        let mut l = new_limiter();
        let a: IpAddr = [10, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!(l.begin(a, "ann", t0, LIMITS).is_ok());
        assert!(l.begin(a, "ann", t0, LIMITS).is_ok());
        let t1 = t0 + StdDuration::from_secs(1);
        assert!(l.begin(a, "ann", t1, LIMITS).is_ok());
        l.succeeded(a, "ann", t1);
        assert!(l.begin(a, "ann", t1, LIMITS).is_ok());
        assert!(l.begin(a, "cy", t1, LIMITS).is_err());
    }

    #[test]
    fn the_throttle_remembers_a_bounded_number_of_keys() {
        let mut t = Throttle::new();
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED + 50) {
            t.add(
                i,
                t0 + StdDuration::from_millis(i as u64),
                5,
                StdDuration::from_secs(3600),
            );
        }
        assert_eq!(t.failures.len(), MAX_TRACKED);
        assert!(!t.failures.contains_key(&0));
    }

    #[actix_rt::test]
    async fn a_password_verifies_against_its_hash_and_nothing_else_does() {
        let phc = hash_password(SecretString::from("correct horse battery"))
            .await
            .expect("hashes");
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains("correct horse"));
        let again = hash_password(SecretString::from("correct horse battery"))
            .await
            .expect("hashes");
        assert_ne!(phc, again, "every hash has its own salt");
        let right = SecretString::from("correct horse battery");
        assert!(verify_password(right, Some(phc.clone()))
            .await
            .expect("runs"));
        let wrong = SecretString::from("correct horse battery!");
        assert!(!verify_password(wrong, Some(phc)).await.expect("runs"));
        let nobody = SecretString::from("correct horse battery");
        assert!(!verify_password(nobody, None).await.expect("runs"));
    }

    #[test]
    fn inputs_with_passwords_do_not_show_them() {
        let input: LoginInput =
            serde_json::from_value(json!({"username": "ann", "password": "hunter2-hunter2"}))
                .expect("a login body");
        assert!(!format!("{input:?}").contains("hunter2"));
        let input: UserInput = serde_json::from_value(
            json!({"username": "ann", "password": "hunter2-hunter2", "role": "viewer"}),
        )
        .expect("a user body");
        assert!(!format!("{input:?}").contains("hunter2"));
    }
}
