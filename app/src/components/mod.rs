//! One panel per file, and the pieces around them.

mod account_balance;
mod change;
mod chart_layout;
mod cutover_status;
mod dashboard;
mod global_market;
mod heartbeat;
mod intraday;
mod not_found;
mod operator;
mod orders;
mod panel_head;
mod positions;
mod sign_in;
mod top_bar_user;

pub use account_balance::AccountBalancePanel;
pub use change::change;
pub use cutover_status::CutoverPanel;
pub use dashboard::Dashboard;
pub use global_market::GlobalMarketPanel;
pub use heartbeat::HeartbeatPanel;
pub use intraday::IntradayPanel;
pub use not_found::NotFound;
pub use orders::OrdersPanel;
pub use panel_head::PanelHead;
pub use positions::PositionsPanel;
pub use sign_in::SignInForm;
pub use top_bar_user::TopBarUser;
