//! Apex Central request signing: a SHA-256 checksum of the request inside an HS256 JWT,
//! made fresh for every request (see `reference/apex-central.md`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The only API version Apex accepts in the token.
pub const API_VERSION: &str = "V1";

/// `base64(SHA-256(METHOD "|" raw_url_lower "|" canonical_headers "|" body))`.
///
/// `path_and_query` is the path plus query exactly as sent (percent-encoded); it is
/// lower-cased here. `canonical_headers` is the concatenation of the request's `API*`
/// headers; this client sends none, so it passes "".
pub fn checksum(
    method: &str,
    path_and_query: &str,
    canonical_headers: &str,
    body: &[u8],
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.to_ascii_uppercase().as_bytes());
    hasher.update(b"|");
    hasher.update(path_and_query.to_lowercase().as_bytes());
    hasher.update(b"|");
    hasher.update(canonical_headers.as_bytes());
    hasher.update(b"|");
    hasher.update(body);
    STANDARD.encode(hasher.finalize())
}

/// The token's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub appid: String,
    /// Unix seconds, as a float like Trend's own sample.
    pub iat: f64,
    pub version: String,
    pub checksum: String,
}

/// The bearer token for one request, issued at `iat` (Unix seconds).
pub fn token(
    app_id: &str,
    api_key: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    iat: f64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = Claims {
        appid: app_id.to_owned(),
        iat,
        version: API_VERSION.to_owned(),
        checksum: checksum(method, path_and_query, "", body),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(api_key.as_bytes()),
    )
}

/// Now, as a float of Unix seconds.
pub fn now_iat() -> f64 {
    let now = chrono::Utc::now();
    now.timestamp() as f64 + f64::from(now.timestamp_subsec_micros()) / 1e6
}

/// Verifies a token's signature (HS256, HS384 or HS512) and returns its claims. Freshness,
/// app id, version and checksum are the caller's to judge (the simulator answers each with
/// its own error code).
pub fn verify(token: &str, api_key: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(api_key.as_bytes()),
        &validation,
    )?;
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known answers of `reference/apex-central.md`.
    #[test]
    fn checksum_known_answers() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "GET",
                "/WebApp/api/SuspiciousObjects/UserDefinedSO/?type=ip&contentFilter=1.2.3.4",
                "",
                "o4PDjosptAH5X9kI5DMHvUdCiWJ4bAAsoAlTiLpwuVs=",
            ),
            (
                "PUT",
                "/WebApp/api/SuspiciousObjects/UserDefinedSO/",
                r#"{"param":{"type":"ip","content":"168.95.1.1","notes":"Suspicious IP address","scan_action":"log"}}"#,
                "8q/hQhDaT0CZa+BB7XjasEVcEMpVoBDgmPEmTsZ+n/M=",
            ),
            (
                "DELETE",
                "/WebApp/api/SuspiciousObjects/UserDefinedSO/?type=domain&content=evil.example.com",
                "",
                "YLRD8bIDkT3QS50iVnz7vswifSlUrYQQ1FO3hmDZAxE=",
            ),
            (
                "put",
                "/WebApp/SuspiciousObjectsBackend/UserDefinedSOResource/OpenIOCExtraction",
                r#"{"param":{"FileHashIDList":["73d95a30c812d9cff0eaf37a686fdfef8f9ca531"],"ScanType":{"File":2,"IP":2,"URL":2,"Domain":2}}}"#,
                "s2+uc1g7mYDQoCsKlT4W90SoM+g3xHmZVwdkGiUrS3U=",
            ),
            (
                "DELETE",
                "/WebApp/api/SuspiciousObjects/UserDefinedSO/?type=url&content=https%3A%2F%2FEvil.Example.com%2FPath%3Fq%3D1",
                "",
                "B0xp2AJOrEEkYb7D0qYBzOL1fp4dCa6kGjDdrTaClgg=",
            ),
            (
                "PUT",
                "/WebApp/api/SuspiciousObjects/UserDefinedSO/",
                r#"{"param":{"type":"domain","content":"bücher.example","notes":"ünïcode","scan_action":"block"}}"#,
                "aokSTqlgCREEkUfioii2wQ1KvvTQ4XIoa03bKafe5aU=",
            ),
        ];
        for (method, url, body, expected) in cases {
            assert_eq!(
                checksum(method, url, "", body.as_bytes()),
                *expected,
                "{method} {url}"
            );
        }
    }

    /// The token for the reference's inputs. `.ci/interop_pyjwt.py` verifies this same
    /// string with PyJWT, so a change to how tokens are made shows up on both sides.
    const REFERENCE_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJhcHBpZCI6IkFQUElELVRFU1QiLCJpYXQiOjE3MDAwMDAwMDAuMjUsInZlcnNpb24iOiJWMSIsImNoZWNrc3VtIjoiSnpwUzVNWHFHeHpMNnV6bmJuTTZGM1daRUVOaGZmWkUxeGNFRU1nbVYzND0ifQ.6kr7hDU7pbEOobJQp9F2tHE76NFVVOWOPrXDrUexBOE";

    #[test]
    fn token_known_answer_verifies_and_carries_the_checksum() {
        let t = token(
            "APPID-TEST",
            "APIKEY-TEST",
            "GET",
            "/WebApp/api/SuspiciousObjects/UserDefinedSO/?type=ip",
            b"",
            1_700_000_000.25,
        )
        .unwrap();
        assert_eq!(t, REFERENCE_TOKEN);
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let claims = verify(&t, "APIKEY-TEST").unwrap();
        assert_eq!(
            claims,
            Claims {
                appid: "APPID-TEST".into(),
                iat: 1_700_000_000.25,
                version: "V1".into(),
                checksum: "JzpS5MXqGxzL6uznbnM6F3WZEENhffZE1xcEEMgmV34=".into(),
            }
        );
        // The payload carries iat as a JSON float, as Trend's sample does.
        let payload = t.split('.').nth(1).unwrap();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        assert!(
            String::from_utf8(json)
                .unwrap()
                .contains("\"iat\":1700000000.25")
        );
    }

    #[test]
    fn wrong_key_fails_verification() {
        let t = token("A", "right", "GET", "/x", b"", 1.5).unwrap();
        assert!(verify(&t, "wrong").is_err());
        assert!(verify("not.a.token", "right").is_err());
    }

    #[test]
    fn iat_is_fresh_and_fractional() {
        let a = now_iat();
        assert!((a - chrono::Utc::now().timestamp() as f64).abs() < 2.0);
    }
}
