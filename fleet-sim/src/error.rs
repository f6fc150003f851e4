//! Why a run (`fleet`, `hammer`, `seed`) could not start or go on; errors answered by
//! the server during a run are counted in its report instead.

use crate::api::ApiError;
use crate::packages::ShapeError;
use crate::proc_stats::ProcError;
use crate::setup::SetupError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("--url: {0}")]
    Url(#[from] homelab_agent::config::ServerListError),
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Proc(#[from] ProcError),
    /// `hammer` on a page target without a password.
    #[error("{0} needs a dashboard login: set HOMELAB_SIM_PASSWORD (and --user)")]
    NoPassword(&'static str),
    /// `hammer --deep` on an empty history.
    #[error("--deep needs a history: the server has no action yet (see `seed`)")]
    EmptyHistory,
    /// `hammer`'s warm-up (each machine sent its list once) was refused.
    #[error("warming up: {0}")]
    Warmup(String),
}
