//! Uptime monitors: the checks they run, the state machine they follow, and the actor
//! that owns each one.

pub mod checks;
