//! Server functions, grouped by what they touch. Their bodies run on the server and
//! reach the service layer through the [`ssr::Backend`] that the server provides as
//! context; the browser build only sees the typed call.

pub mod servers;

#[cfg(feature = "ssr")]
pub mod ssr;

pub use servers::{
    AddServer, Fleet, ListServers, LoadServerPage, ServerPageData, add_server, list_servers,
    load_server_page,
};
