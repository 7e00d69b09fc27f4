//! One panel per file, and the pieces around them.

mod heartbeat;
mod not_found;
mod sign_in;
mod top_bar_user;

pub use heartbeat::HeartbeatPanel;
pub use not_found::NotFound;
pub use sign_in::SignInForm;
pub use top_bar_user::TopBarUser;
