//! The MConnection: many prioritised channels multiplexed over one connection.

pub mod wire;
