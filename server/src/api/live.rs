//! REST answers for the streamed features: the very message the socket carried last, envelope
//! and all, so a page can join the REST snapshot onto the stream by `seq` without a gap.

use super::ApiError;
use crate::hub::Frame;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub fn latest_message(frame: Option<Frame>) -> Result<Response, ApiError> {
    let frame = frame.ok_or_else(|| {
        ApiError::Unavailable("no value has been computed yet; try again in a few seconds".into())
    })?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        frame.text.as_str().to_owned(),
    )
        .into_response())
}
