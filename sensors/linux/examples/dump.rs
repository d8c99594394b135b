//! Prints the sensor's raw records for a few seconds, one line each: a development aid for the
//! kernel side (`sudo cargo run -p vigil-sensor-linux --example dump -- [SECONDS]`).

#[cfg(target_os = "linux")]
fn main() {
    use std::time::{Duration, Instant};

    use vigil_sensor_linux::loader::Kernel;
    use vigil_sensor_linux::record::parse;

    let seconds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let mut kernel = match Kernel::load(std::process::id(), 1 << 22) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    for p in kernel.probes().iter().filter(|p| !p.attached) {
        eprintln!("not attached: {} on {}: {:?}", p.program, p.attach, p.error);
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        kernel.wait(Duration::from_millis(100));
        kernel.read(usize::MAX, &mut |bytes| match parse(bytes) {
            Ok(r) => {
                let h = r.header;
                let strs: Vec<String> = (0..5)
                    .map(|i| r.str(i))
                    .filter(|s| !s.bytes.is_empty() || s.unreadable)
                    .map(|s| {
                        let flags = match (s.truncated, s.unreadable) {
                            (true, _) => " (cut)",
                            (_, true) => " (unreadable)",
                            _ => "",
                        };
                        format!("{:?}{flags}", s.text())
                    })
                    .collect();
                println!(
                    "{:?} pid={} ppid={} uid={} a={:#x} b={:#x} ports={}->{} {}",
                    r.kind,
                    h.pid,
                    h.ppid,
                    h.uid,
                    h.a,
                    h.b,
                    h.sport,
                    h.dport,
                    strs.join(" ")
                );
            }
            Err(e) => println!("malformed: {e}"),
        });
    }
    println!("{:?}", kernel.counts());
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the eBPF sensor runs on Linux only");
}
