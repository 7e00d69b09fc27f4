//! Paper trading: accounts, their positions, and their valuation at the feed's prices.

pub mod accounts;
