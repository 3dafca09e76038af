//! Pages of this area (being written).

use axum::Router;

use super::Web;

pub fn routes() -> Router<Web> {
    Router::new()
}
