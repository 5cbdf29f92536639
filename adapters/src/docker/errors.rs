//! Translation of Docker engine errors into the runtime port's errors.

use bollard::errors::Error;
use domain::ports::RuntimeError;

/// What the failing call was about, to name it in a not-found error.
pub(super) enum PathContext<'a> {
    None,
    WorkingDir(&'a str),
}

pub(super) fn map_err(error: Error, context: PathContext<'_>) -> RuntimeError {
    match error {
        Error::DockerResponseServerError {
            status_code,
            message,
        } => {
            let lower = message.to_lowercase();
            match (status_code, context) {
                (404, _) if lower.contains("no such container") => RuntimeError::ContainerGone,
                (404, _) if lower.contains("no such image") => RuntimeError::ImageMissing(message),
                (_, PathContext::WorkingDir(dir))
                    if lower.contains("chdir") || lower.contains("no such file") =>
                {
                    RuntimeError::FileNotFound(format!("working_dir {dir}"))
                }
                (409, _) if lower.contains("is paused") => {
                    RuntimeError::Failed("the sandbox is paused".into())
                }
                _ => RuntimeError::Failed(format!("engine answered {status_code}: {message}")),
            }
        }
        Error::HyperResponseError { .. } | Error::IOError { .. } | Error::RequestTimeoutError => {
            RuntimeError::Unavailable(error.to_string())
        }
        other => RuntimeError::Failed(other.to_string()),
    }
}

/// Creating a container under a name that another container already has.
pub(super) fn is_name_conflict(error: &Error) -> bool {
    matches!(error, Error::DockerResponseServerError { status_code: 409, message } if message.contains("already in use"))
}
