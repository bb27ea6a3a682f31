//! The registry settings a production registry needs (TLS with a private
//! certificate authority, a client certificate, basic authentication),
//! against our registry served behind a real TLS listener that requires
//! all three, as a proxy in front of a registry would.

use super::*;
use axum::{
    extract::Request,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use std::{path::PathBuf, sync::Arc};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};

/// `partner:s3cret`, as a basic `Authorization` header.
const CREDENTIALS: &str = "Basic cGFydG5lcjpzM2NyZXQ=";

/// A private CA, a server certificate for 127.0.0.1 and a client identity
/// signed by it, written as PEM files.
struct Pki {
    /// Holds the files.
    dir: tempfile::TempDir,
    /// The server's certificate and key.
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    /// The CA, as the server's trust root for client certificates.
    ca: CertificateDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(params, ca_key);
        let leaf = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![name.to_owned()])
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            (cert, key)
        };
        let (server, server_key) = leaf("127.0.0.1");
        let (client, client_key) = leaf("partner");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(
            dir.path().join("client.pem"),
            format!("{}{}", client.pem(), client_key.serialize_pem()),
        )
        .unwrap();
        Pki {
            dir,
            server: (
                server.der().clone(),
                PrivateKeyDer::from_pem_slice(server_key.serialize_pem().as_bytes()).unwrap(),
            ),
            ca: ca.der().clone(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A TCP listener that speaks TLS (handshakes that fail are dropped).
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Refuses requests without the basic credentials, as Confluent's
/// registry does.
async fn basic_auth(request: Request, next: Next) -> Response {
    let authorized = request
        .headers()
        .get("authorization")
        .is_some_and(|value| value == CREDENTIALS);
    if authorized {
        next.run(request).await
    } else {
        let body = serde_json::json!({"error_code": 401, "message": "Unauthorized"});
        (axum::http::StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
    }
}

/// Serves a registry over TLS requiring a client certificate and basic
/// authentication; its `https` URL.
async fn serve(pki: &Pki) -> String {
    crate::choose_crypto_provider();
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
        .unwrap();
    let registry = rfq_registry::Registry::open(Box::new(rfq_registry::MemoryLog::default()))
        .await
        .unwrap();
    let router = rfq_registry::router(registry).layer(middleware::from_fn(basic_auth));
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", tcp.local_addr().unwrap());
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// Settings with every part given.
fn full(url: &str, pki: &Pki) -> SchemaRegistrySettings {
    SchemaRegistrySettings {
        registry_url: Some(url.to_owned()),
        registry_user: Some("partner".into()),
        registry_password: Some("s3cret".into()),
        registry_ca: Some(pki.path("ca.pem")),
        registry_identity: Some(pki.path("client.pem")),
    }
}

async fn register(settings: &SchemaRegistrySettings) -> Result<Vec<Registration>, CodecError> {
    ConfluentCodec::new(settings, &TopicSettings::default())?
        .register_pipeline(None)
        .await
}

#[tokio::test]
async fn a_registry_behind_tls_client_certificates_and_basic_auth_is_used_with_its_settings() {
    let pki = Pki::new();
    let url = serve(&pki).await;
    let settings = full(&url, &pki);
    let registered = register(&settings).await.unwrap();
    assert_eq!(registered.len(), 5, "{registered:?}");
    let codec = ConfluentCodec::new(&settings, &TopicSettings::default()).unwrap();
    let rfq = Record::Rfq(rfq_core::Rfq::sample(&["a"]));
    let bytes = codec.encode("rfq.requests", &rfq).await.unwrap();
    assert_eq!(codec.decode("rfq.requests", &bytes).await.unwrap(), rfq);
}

#[tokio::test]
async fn each_missing_or_wrong_part_is_told() {
    let pki = Pki::new();
    let url = serve(&pki).await;
    // Without our CA the server's certificate is not trusted: the registry
    // cannot be reached (waited out by components, not a refusal).
    let no_ca = SchemaRegistrySettings {
        registry_ca: None,
        ..full(&url, &pki)
    };
    let error = register(&no_ca).await.unwrap_err();
    assert!(matches!(error, CodecError::Registry(_)), "{error}");
    // Without the client certificate the handshake fails.
    let no_identity = SchemaRegistrySettings {
        registry_identity: None,
        ..full(&url, &pki)
    };
    let error = register(&no_identity).await.unwrap_err();
    assert!(matches!(error, CodecError::Registry(_)), "{error}");
    // A wrong password is the registry's refusal, with its status.
    let wrong_password = SchemaRegistrySettings {
        registry_password: Some("guess".into()),
        ..full(&url, &pki)
    };
    let error = register(&wrong_password).await.unwrap_err();
    assert!(matches!(error, CodecError::Refused(_)), "{error}");
    assert!(error.to_string().contains("401"), "{error}");
    // Files that are not there, or not PEM, are settings errors at once.
    let missing = SchemaRegistrySettings {
        registry_ca: Some(pki.path("nope.pem")),
        ..full(&url, &pki)
    };
    let error = register(&missing).await.unwrap_err();
    assert!(matches!(error, CodecError::Settings(_)), "{error}");
    assert!(error.to_string().contains("nope.pem"), "{error}");
    std::fs::write(pki.path("junk.pem"), "not a certificate").unwrap();
    let junk = SchemaRegistrySettings {
        registry_identity: Some(pki.path("junk.pem")),
        ..full(&url, &pki)
    };
    let error = register(&junk).await.unwrap_err();
    assert!(matches!(error, CodecError::Settings(_)), "{error}");
}
