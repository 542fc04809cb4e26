use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::store::{Clock as _, ManualClock};

const ROTATE: Duration = Duration::from_secs(3600);
const ISSUER: &str = "https://auth.example.test";
const AUDIENCE: &str = "https://app.example.test";

async fn open() -> (tempfile::TempDir, ManualClock, Assertions) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/store.db", dir.path().display());
    let clock = ManualClock::new(SystemTime::now());
    let store = Store::open_with_clock(&url, Arc::new(clock.clone()))
        .await
        .unwrap();
    let assertions = Assertions::open(store, ROTATE).await.unwrap();
    (dir, clock, assertions)
}

fn claims_at(now: SystemTime) -> Claims {
    let iat = unix_seconds(now);
    Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: "alice".into(),
        email: Some("alice@example.test".into()),
        name: "Alice".into(),
        groups: vec!["staff".into()],
        roles: vec!["editor".into()],
        amr: vec!["pwd".into()],
        auth_time: iat,
        iat,
        nbf: iat - 30,
        exp: iat + 60,
        jti: "j1".into(),
    }
}

async fn signed(assertions: &Assertions, claims: &Claims) -> (String, String) {
    let ring = assertions.ring(ROTATE).await.unwrap();
    let key = ring.signing().unwrap();
    (token::sign(claims, key).unwrap(), key.kid.clone())
}

fn settings() -> AssertionSettings {
    AssertionSettings {
        rotate_every: ROTATE,
        ..AssertionSettings::default()
    }
}

#[tokio::test]
async fn first_start_makes_one_key_and_rotation_keeps_the_old_one_for_the_overlap() {
    let (_dir, clock, assertions) = open().await;
    let first = assertions.jwks(&settings()).await.unwrap();
    assert_eq!(first.keys.len(), 1);
    let old_kid = first.keys[0].kid.clone();
    assert_eq!(old_kid.len(), 16, "12 bytes of SHA-256, base64url");

    clock.advance(ROTATE);
    let rotated = assertions.jwks(&settings()).await.unwrap();
    let kids: Vec<&str> = rotated.keys.iter().map(|key| key.kid.as_str()).collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert_eq!(kids[1], old_kid, "the old key is still published");
    let (_, signing_kid) = signed(&assertions, &claims_at(clock.now())).await;
    assert_eq!(signing_kid, kids[0], "the newest key signs");

    clock.advance(KEY_OVERLAP - Duration::from_secs(1));
    assert_eq!(assertions.jwks(&settings()).await.unwrap().keys.len(), 2);
    clock.advance(Duration::from_secs(1));
    let pruned = assertions.jwks(&settings()).await.unwrap();
    assert_eq!(pruned.keys.len(), 1);
    assert_eq!(pruned.keys[0].kid, signing_kid);
}

#[tokio::test]
async fn verify_accepts_a_good_token_and_names_each_failure() {
    let (_dir, clock, assertions) = open().await;
    let now = clock.now();
    let jwks = assertions.jwks(&settings()).await.unwrap();
    let claims = claims_at(now);
    let (token, _) = signed(&assertions, &claims).await;
    assert_eq!(verify(&token, &jwks, ISSUER, AUDIENCE, now), Ok(claims));

    let other = "https://b.example.test";
    assert_eq!(
        verify(&token, &jwks, ISSUER, other, now),
        Err(VerifyError::Audience)
    );
    assert_eq!(
        verify(&token, &jwks, other, AUDIENCE, now),
        Err(VerifyError::Issuer)
    );
    let late = now + Duration::from_secs(60 + 10);
    assert_eq!(
        verify(&token, &jwks, ISSUER, AUDIENCE, late),
        Err(VerifyError::Expired)
    );
    let early = now - Duration::from_secs(30 + 11);
    let result = verify(&token, &jwks, ISSUER, AUDIENCE, early);
    assert_eq!(result, Err(VerifyError::NotYetValid));
    let empty = Jwks::default();
    let result = verify(&token, &empty, ISSUER, AUDIENCE, now);
    assert_eq!(result, Err(VerifyError::UnknownKey));
    assert_eq!(
        verify("not.a.token", &jwks, ISSUER, AUDIENCE, now),
        Err(VerifyError::Malformed)
    );
}

#[tokio::test]
async fn tampered_claims_and_foreign_algorithms_are_refused() {
    let (_dir, clock, assertions) = open().await;
    let now = clock.now();
    let jwks = assertions.jwks(&settings()).await.unwrap();
    let (token, kid) = signed(&assertions, &claims_at(now)).await;
    let parts: Vec<&str> = token.split('.').collect();

    let mut claims = claims_at(now);
    claims.sub = "root".into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
    let result = verify(&forged, &jwks, ISSUER, AUDIENCE, now);
    assert_eq!(result, Err(VerifyError::Signature));

    for alg in ["none", "HS256", "ES384"] {
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#);
        let header = URL_SAFE_NO_PAD.encode(header);
        let forged = format!("{header}.{}.{}", parts[1], parts[2]);
        let result = verify(&forged, &jwks, ISSUER, AUDIENCE, now);
        assert!(
            matches!(result, Err(VerifyError::Algorithm | VerifyError::Malformed)),
            "{alg}: {result:?}"
        );
    }
}

#[tokio::test]
async fn debug_output_shows_no_private_key() {
    let (_dir, _clock, assertions) = open().await;
    let ring = assertions.ring(ROTATE).await.unwrap();
    let shown = format!("{ring:?} {assertions:?}");
    assert!(shown.contains("[redacted]"), "{shown}");
    let key = ring.signing().unwrap();
    let der = key.encoding.as_bytes();
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    assert!(!shown.contains(&encoded[..24]), "{shown}");
    assert!(!shown.contains(&format!("{:?}", &der[..8])), "{shown}");
}
