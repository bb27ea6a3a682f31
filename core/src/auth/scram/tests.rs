use super::*;

/// RFC 7677, section 3: user `user`, password `pencil`.
const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn credential(password: &str) -> ScramCredential {
    let salt = B64.decode(SALT).expect("the RFC's salt");
    ScramCredential::derive(password, &salt, 4096).credential
}

fn exchange(password: &str, client_final: &str) -> Result<String, ScramError> {
    let server = ScramServer::client_first(CLIENT_FIRST)?;
    assert_eq!(server.user(), "user");
    let (awaiting, server_first) =
        server.server_first_with_nonce(credential(password), SERVER_NONCE);
    assert_eq!(server_first, SERVER_FIRST);
    awaiting.client_final(client_final)
}

#[test]
fn the_rfc_7677_exchange_succeeds() {
    assert_eq!(
        exchange("pencil", CLIENT_FINAL).as_deref(),
        Ok(SERVER_FINAL)
    );
}

#[test]
fn a_wrong_password_fails() {
    assert_eq!(exchange("pencil2", CLIENT_FINAL), Err(ScramError::Failed));
    // A proof changed by one character fails too.
    let tampered = CLIENT_FINAL.replace("p=dHzb", "p=eHzb");
    assert_eq!(exchange("pencil", &tampered), Err(ScramError::Failed));
}

#[test]
fn another_nonce_or_channel_binding_is_refused() {
    let other_nonce = CLIENT_FINAL.replace("k0,p=", "k1,p=");
    assert_eq!(exchange("pencil", &other_nonce), Err(ScramError::Nonce));
    assert_eq!(
        ScramServer::client_first("p=tls-unique,,n=user,r=abc").err(),
        Some(ScramError::ChannelBinding)
    );
    for bad in ["", "n,,", "n,,r=abc", "x,,n=user,r=abc", "n,,n=,r=abc"] {
        assert!(ScramServer::client_first(bad).is_err(), "{bad:?}");
    }
    let escaped = ScramServer::client_first("n,,n=a=2Cb=3Dc,r=abc").expect("valid");
    assert_eq!(escaped.user(), "a,b=c");
}

#[test]
fn a_generated_credential_is_salted_and_hides_the_password() {
    let (one, two) = (
        ScramCredential::generate("secret"),
        ScramCredential::generate("secret"),
    );
    assert_ne!(one.credential.salt, two.credential.salt);
    assert_eq!(one.credential.iterations, ITERATIONS);
    assert!(!format!("{:?}", one.credential).contains("secret"));
    // The salted password derives the same keys again.
    let again = ScramCredential::derive("secret", &one.credential.salt, ITERATIONS);
    assert_eq!(again.salted_password, one.salted_password);
    assert!(again.credential == one.credential);
}

#[test]
fn an_unknown_user_fails_at_the_proof_like_a_wrong_password() {
    let server = ScramServer::client_first(CLIENT_FIRST).expect("valid");
    let (awaiting, server_first) = server.server_first_unknown();
    let nonce = server_first
        .strip_prefix("r=")
        .and_then(|rest| rest.split(',').next())
        .expect("a nonce");
    assert!(nonce.starts_with("rOprNGfwEbeRWgbNEkqO"));
    assert!(server_first.ends_with(&format!(",i={ITERATIONS}")));
    let client_final = format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    assert_eq!(
        awaiting.client_final(&client_final),
        Err(ScramError::Failed)
    );
}
