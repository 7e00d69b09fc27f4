//! Paper trading: accounts, their positions, and their valuation at the feed's prices; and
//! loading traders' accounts from a file (`thor accounts import`).

pub mod accounts;
pub mod import;
