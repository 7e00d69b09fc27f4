//! Paper trading: accounts, their positions, and their valuation at the feed's prices; orders
//! (`orders`) and their fills (`fills`); what the desk carries across a restart (`desk`); and
//! loading traders' accounts from a file (`thor accounts import`).

pub mod accounts;
pub mod desk;
pub mod fills;
pub mod import;
pub mod orders;
