//! A router that knows what it serves: each route is added with its method
//! and path, and the list of them comes from the same calls the router is
//! built from, so the contract test (`tests/it/openapi.rs`) compares the
//! OpenAPI document with the routes actually served, both ways.

use axum::{Router, handler::Handler, routing};

/// A route served: its method, lower case as OpenAPI names operations
/// (`get`, `post`), and its path as axum and OpenAPI write it
/// (`/rfqs/{id}`).
pub type Served = (&'static str, &'static str);

/// A [`Router`] and the routes it serves.
pub struct Routes<S = ()> {
    /// The routes, built.
    router: Router<S>,
    /// What they serve, in the order they were added.
    served: Vec<Served>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            served: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `GET path`, answered by `handler`.
    pub fn get<H: Handler<T, S>, T: 'static>(mut self, path: &'static str, handler: H) -> Self {
        self.router = self.router.route(path, routing::get(handler));
        self.served.push(("get", path));
        self
    }

    /// `POST path`, answered by `handler`.
    pub fn post<H: Handler<T, S>, T: 'static>(mut self, path: &'static str, handler: H) -> Self {
        self.router = self.router.route(path, routing::post(handler));
        self.served.push(("post", path));
        self
    }

    /// These routes and `other`'s.
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.served.extend(other.served);
        self
    }

    /// What the routes serve.
    pub fn served(&self) -> &[Served] {
        &self.served
    }

    /// The router.
    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn what_is_listed_is_what_is_served() {
        let routes = Routes::<()>::new()
            .get("/a/{id}", || async { "a" })
            .merge(Routes::new().post("/b", || async { "b" }));
        assert_eq!(routes.served(), [("get", "/a/{id}"), ("post", "/b")]);
        let router = routes.into_router();
        for (method, path, status) in [
            ("GET", "/a/1", 200),
            ("POST", "/b", 200),
            ("POST", "/a/1", 405),
            ("GET", "/b", 405),
            ("GET", "/c", 404),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), status, "{method} {path}");
        }
    }
}
