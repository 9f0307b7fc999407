//! Destinations: the lists this tool writes suspicious objects to.

pub mod vision_one;
