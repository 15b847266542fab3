//! The token endpoint through the `oauth2` crate: code exchange, refresh and client credentials,
//! with HTTP Basic client authentication and Bitbucket's response quirks (`scope` or legacy
//! `scopes`, space or comma separated). Requests go through the project's one HTTP stack, with
//! the body read capped; a status that is not an OAuth answer (2xx, 400, 401) never reaches the
//! `oauth2` parser, so a broken endpoint is never mistaken for a refusal.

use chrono::Utc;
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, ClientId, EndpointNotSet, EndpointSet, ExtraTokenFields, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::error::OAuthError;
use crate::api::{excerpt, Http, TransportError};
use crate::model::{
    AccessToken, AuthorizationCode, Client, PkceVerifier, Provider, RedirectUri, RefreshToken,
    ScopeSet, TokenSet,
};

/// The largest token-endpoint answer read (tokens are a few KiB; a 200 MB answer was seen in
/// probing and must not be buffered).
const MAX_TOKEN_RESPONSE: usize = 1024 * 1024;

/// A token-endpoint call that got no OAuth answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenHttpError {
    /// No response, or an unreadable one.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A status that is not an OAuth answer.
    #[error("HTTP {status}")]
    Status { status: u16, excerpt: String },
}

/// The project's HTTP stack as the `oauth2` crate's client (a named type with a boxed `Send`
/// future: closures here trip the compiler's higher-ranked `Send` inference in async traits).
struct TokenHttp(Http);

impl<'c> oauth2::AsyncHttpClient<'c> for TokenHttp {
    type Error = TokenHttpError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<oauth2::HttpResponse, TokenHttpError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

/// Sends one token-endpoint request through `http`.
async fn send(
    http: &Http,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, TokenHttpError> {
    let response = http.execute(request, MAX_TOKEN_RESPONSE).await?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) || status == 400 || status == 401 {
        Ok(response)
    } else {
        Err(TokenHttpError::Status {
            status,
            excerpt: excerpt(response.body()),
        })
    }
}

/// Fields Bitbucket adds to the standard token response.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(crate) struct BitbucketFields {
    /// Before May 2026 the granted scopes came under `scopes` (the standard key is `scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scopes: Option<String>,
}

impl ExtraTokenFields for BitbucketFields {}

type TokenResponseBody = StandardTokenResponse<BitbucketFields, BasicTokenType>;

pub(crate) type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponseBody,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The `oauth2` client for `client` at `provider`'s endpoints.
pub(crate) fn oauth_client(
    provider: &Provider,
    client: &Client,
    redirect_uri: Option<&RedirectUri>,
) -> Result<OAuthClient, OAuthError> {
    let mut oauth = oauth2::Client::new(ClientId::new(client.key.as_str().to_owned()))
        .set_client_secret(oauth2::ClientSecret::new(
            client.secret.expose_secret().to_owned(),
        ))
        .set_auth_type(AuthType::BasicAuth)
        .set_auth_uri(
            AuthUrl::new(provider.authorize_url.to_string())
                .map_err(|e| bad_url("authorize URL", &e))?,
        )
        .set_token_uri(
            TokenUrl::new(provider.token_url.to_string()).map_err(|e| bad_url("token URL", &e))?,
        );
    if let Some(redirect) = redirect_uri {
        oauth = oauth.set_redirect_uri(
            RedirectUrl::new(redirect.to_string()).map_err(|e| bad_url("redirect URI", &e))?,
        );
    }
    Ok(oauth)
}

fn bad_url(what: &'static str, e: &url::ParseError) -> OAuthError {
    OAuthError::TokenResponse {
        excerpt: format!("the {what} cannot be used: {e}"),
    }
}

/// The model's token set from a token response. Of the `previous` tokens (a refresh), the
/// refresh token is kept when the response carries no new one (Bitbucket always rotates, but a
/// missing key must not lose it), and the scopes when it names none (RFC 6749 §5.1: an absent
/// scope means the scope granted before, not no scope).
fn token_set(
    response: &TokenResponseBody,
    previous: Option<&TokenSet>,
) -> Result<TokenSet, OAuthError> {
    let mut words: Vec<String> = response
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    if let Some(legacy) = &response.extra_fields().scopes {
        words.push(legacy.clone());
    }
    let scopes = match previous {
        Some(previous) if words.is_empty() => previous.scopes.clone(),
        _ => ScopeSet::parse_lenient(&words.join(" ")),
    };
    Ok(TokenSet {
        access_token: AccessToken::new(response.access_token().secret().clone())?,
        refresh_token: match response.refresh_token() {
            Some(rt) => Some(RefreshToken::new(rt.secret().clone())?),
            None => previous.and_then(|p| p.refresh_token.clone()),
        },
        expires_at: response
            .expires_in()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d),
        scopes,
    })
}

type GrantError = RequestTokenError<TokenHttpError, BasicErrorResponse>;

/// Reads a successful token response body as the token endpoint sends it (for fuzzing: the
/// same parsing and conversion as a real exchange).
#[cfg(feature = "testing")]
pub(crate) fn parse_token_response(body: &[u8]) -> Result<TokenSet, OAuthError> {
    let response: TokenResponseBody =
        serde_json::from_slice(body).map_err(|_| OAuthError::TokenResponse {
            excerpt: excerpt(body),
        })?;
    token_set(&response, None)
}

/// Maps a token-endpoint failure by `error` code first, description second (§4 of the facts).
fn grant_error(e: GrantError, url: &str) -> OAuthError {
    match e {
        RequestTokenError::ServerResponse(response) => {
            let description = response.error_description().cloned().unwrap_or_default();
            let lower = description.to_ascii_lowercase();
            let code = response.error().to_string();
            match response.error() {
                BasicErrorResponseType::UnauthorizedClient
                | BasicErrorResponseType::InvalidClient
                    if lower.contains("must be authenticated") =>
                {
                    OAuthError::NoClientAuthentication
                }
                BasicErrorResponseType::UnauthorizedClient
                | BasicErrorResponseType::InvalidClient => OAuthError::InvalidCredentials,
                _ if lower.contains("no callback uri") => OAuthError::NoCallbackUrl,
                _ if lower.contains("redirect_uri does not match") => OAuthError::RedirectMismatch,
                _ if lower.contains("marked as \"public\"")
                    || lower.contains("client_credentials with a consumer") =>
                {
                    OAuthError::NotPrivateConsumer
                }
                _ if lower.contains("refresh_token") => {
                    OAuthError::RefreshTokenRejected { description }
                }
                BasicErrorResponseType::InvalidGrant | BasicErrorResponseType::InvalidRequest
                    if lower.contains("code") =>
                {
                    OAuthError::CodeRejected { description }
                }
                _ => OAuthError::TokenEndpoint {
                    error: code,
                    description,
                },
            }
        }
        RequestTokenError::Request(TokenHttpError::Status { status, excerpt }) => {
            OAuthError::TokenEndpointStatus { status, excerpt }
        }
        RequestTokenError::Request(TokenHttpError::Transport(TransportError::Request(reason))) => {
            OAuthError::Unreachable {
                url: url.to_owned(),
                reason,
            }
        }
        RequestTokenError::Request(TokenHttpError::Transport(other)) => OAuthError::TokenResponse {
            excerpt: other.to_string(),
        },
        RequestTokenError::Parse(_, body) => OAuthError::TokenResponse {
            excerpt: excerpt(&body),
        },
        RequestTokenError::Other(message) => OAuthError::TokenResponse { excerpt: message },
    }
}

/// Exchanges an authorization `code`, sending the same `redirect_uri` as the authorization.
pub(crate) async fn exchange_code(
    http: &Http,
    provider: &Provider,
    client: &Client,
    redirect_uri: &RedirectUri,
    code: &AuthorizationCode,
    pkce_verifier: Option<&PkceVerifier>,
) -> Result<TokenSet, OAuthError> {
    let oauth = oauth_client(provider, client, Some(redirect_uri))?;
    let mut request = oauth.exchange_code(oauth2::AuthorizationCode::new(
        code.expose_secret().to_owned(),
    ));
    if let Some(verifier) = pkce_verifier {
        request =
            request.set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()));
    }
    let response = request
        .request_async(&TokenHttp(http.clone()))
        .await
        .map_err(|e| grant_error(e, provider.token_url.as_url().as_str()))?;
    token_set(&response, None)
}

/// Spends the refresh token of `previous` for a new token set (Bitbucket rotates: the old one
/// dies).
pub(crate) async fn refresh(
    http: &Http,
    provider: &Provider,
    client: &Client,
    refresh_token: &RefreshToken,
    previous: &TokenSet,
) -> Result<TokenSet, OAuthError> {
    let oauth = oauth_client(provider, client, None)?;
    let rt = oauth2::RefreshToken::new(refresh_token.expose_secret().to_owned());
    let response = oauth
        .exchange_refresh_token(&rt)
        .request_async(&TokenHttp(http.clone()))
        .await
        .map_err(|e| grant_error(e, provider.token_url.as_url().as_str()))?;
    token_set(&response, Some(previous))
}

/// The client-credentials grant (private consumers only; no refresh token).
pub(crate) async fn client_credentials(
    http: &Http,
    provider: &Provider,
    client: &Client,
) -> Result<TokenSet, OAuthError> {
    let oauth = oauth_client(provider, client, None)?;
    let response = oauth
        .exchange_client_credentials()
        .request_async(&TokenHttp(http.clone()))
        .await
        .map_err(|e| grant_error(e, provider.token_url.as_url().as_str()))?;
    token_set(&response, None)
}
