//! Hosts: the push body and its validation, node_exporter scraping, the actor that owns
//! each host (rates, the dead man's switch), and the registry that finds them.

pub mod sample;
pub mod scrape;
