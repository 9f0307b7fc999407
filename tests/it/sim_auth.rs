//! The simulated Apex Central checks every request as the real one does. These tests sign
//! requests by hand (with the library's signer) and send them over HTTP.

use apex_ioc_sync::apex::auth;
use apex_ioc_sync::apex::client::CONTENT_TYPE_JSON;
use apex_ioc_sync::apex::udso::UDSO_PATH;
use base64::Engine as _;
use serde_json::Value;

struct Answer {
    status: u16,
    code: i64,
}

fn send(
    url: &str,
    method: &str,
    path_and_query: &str,
    body: &str,
    authorization: Option<String>,
) -> Answer {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client
            .request(method.parse().unwrap(), format!("{url}{path_and_query}"))
            .header("content-type", CONTENT_TYPE_JSON)
            .body(body.to_owned());
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let json: Value = resp.json().await.unwrap();
        let code = json["Meta"]["ErrorCode"].as_i64().unwrap();
        Answer { status, code }
    })
}

fn bearer(token: String) -> Option<String> {
    Some(format!("Bearer {token}"))
}

const LIST: &str = "/WebApp/api/SuspiciousObjects/UserDefinedSO/?type=ip";

#[test]
fn a_correct_request_is_accepted() {
    let apex = crate::common::start_apex();
    let c = apex.sim.config();
    let t = auth::token(&c.app_id, &c.api_key, "GET", LIST, b"", auth::now_iat()).unwrap();
    let a = send(&apex.url(), "GET", LIST, "", bearer(t));
    assert_eq!((a.status, a.code), (200, 0));
}

#[test]
fn each_auth_failure_gets_its_code() {
    let apex = crate::common::start_apex();
    let c = apex.sim.config();
    let now = auth::now_iat();
    let url = apex.url();

    let a = send(&url, "GET", LIST, "", None);
    assert_eq!((a.status, a.code), (401, 14), "no token");

    let a = send(&url, "GET", LIST, "", Some("Bearer not-a-jwt".into()));
    assert_eq!((a.status, a.code), (401, 15), "malformed");

    let t = auth::token("SOMEONE-ELSE", &c.api_key, "GET", LIST, b"", now).unwrap();
    assert_eq!(send(&url, "GET", LIST, "", bearer(t)).code, 17, "app id");

    let t = auth::token(&c.app_id, "wrong-key", "GET", LIST, b"", now).unwrap();
    let a = send(&url, "GET", LIST, "", bearer(t));
    assert_eq!((a.status, a.code), (401, 19), "signature");

    let stale = now - c.token_timeout.as_secs_f64() - 5.0;
    let t = auth::token(&c.app_id, &c.api_key, "GET", LIST, b"", stale).unwrap();
    let a = send(&url, "GET", LIST, "", bearer(t));
    assert_eq!((a.status, a.code), (401, 18), "stale iat");

    // Signed for one query, sent with another.
    let t = auth::token(&c.app_id, &c.api_key, "GET", LIST, b"", now).unwrap();
    let other = "/WebApp/api/SuspiciousObjects/UserDefinedSO/?type=url";
    assert_eq!(send(&url, "GET", other, "", bearer(t)).code, 20, "query");

    // Signed for one body, sent with another.
    let body = r#"{"param":{"type":"ip","content":"1.2.3.4","notes":"","scan_action":"log"}}"#;
    let tampered = body.replace("1.2.3.4", "1.2.3.5");
    let t = auth::token(
        &c.app_id,
        &c.api_key,
        "PUT",
        UDSO_PATH,
        body.as_bytes(),
        now,
    )
    .unwrap();
    let a = send(&url, "PUT", UDSO_PATH, &tampered, bearer(t.clone()));
    assert_eq!((a.status, a.code), (401, 20), "tampered body");
    assert_eq!(
        send(&url, "PUT", UDSO_PATH, body, bearer(t)).code,
        0,
        "intact body"
    );

    // Signed for GET, sent as DELETE.
    let t = auth::token(&c.app_id, &c.api_key, "GET", LIST, b"", now).unwrap();
    assert_eq!(send(&url, "DELETE", LIST, "", bearer(t)).code, 20, "method");
}

#[test]
fn version_and_algorithm_are_checked() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let apex = crate::common::start_apex();
    let c = apex.sim.config();
    let claims = |version: &str| auth::Claims {
        appid: c.app_id.clone(),
        iat: auth::now_iat(),
        version: version.into(),
        checksum: auth::checksum("GET", LIST, "", b""),
    };
    let key = EncodingKey::from_secret(c.api_key.as_bytes());
    let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims("V2"), &key).unwrap();
    assert_eq!(send(&apex.url(), "GET", LIST, "", bearer(t)).code, 16);
    // Correctly signed, but without the claims Apex needs: malformed.
    let partial = serde_json::json!({"appid": c.app_id, "version": "V1"});
    let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &partial, &key).unwrap();
    let a = send(&apex.url(), "GET", LIST, "", bearer(t));
    assert_eq!((a.status, a.code), (401, 15));
    // HS512 is accepted as the real server accepts it.
    let t = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims("V1"), &key).unwrap();
    assert_eq!(send(&apex.url(), "GET", LIST, "", bearer(t)).code, 0);
    // A token claiming "none" is refused.
    let header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims("V1")).unwrap());
    let a = send(
        &apex.url(),
        "GET",
        LIST,
        "",
        bearer(format!("{header}.{payload}.")),
    );
    assert_eq!(a.status, 401);
}
