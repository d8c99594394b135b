//! Build script of the Linux sensor (being written).

fn main() {}
