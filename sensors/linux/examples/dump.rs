//! Prints the sensor's raw records for a few seconds (a development aid).
use std::time::{Duration, Instant};
fn main() {
    let mut k = match vigil_sensor_linux::loader::Kernel::load(std::process::id(), 1 << 22) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2)
        }
    };
    for p in k.probes() {
        if !p.attached {
            eprintln!("probe {} {}: {:?}", p.program, p.attach, p.error);
        }
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        k.wait(Duration::from_millis(100));
        k.read(10000, &mut |b| match vigil_sensor_linux::record::parse(b) {
            Ok(r) => {
                let s: Vec<String> = (0..5)
                    .map(|i| {
                        let x = r.str(i);
                        format!(
                            "{:?}{}{}",
                            String::from_utf8_lossy(x.bytes),
                            if x.truncated { "~" } else { "" },
                            if x.unreadable { "!" } else { "" }
                        )
                    })
                    .collect();
                println!(
                    "{:?} pid={} ppid={} uid={} a={:#x} b={:#x} {}:{} -> {}:{} {:?}",
                    r.kind,
                    r.header.pid,
                    r.header.ppid,
                    r.header.uid,
                    r.header.a,
                    r.header.b,
                    r.header.saddr[..4]
                        .iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join("."),
                    r.header.sport,
                    r.header.daddr[..4]
                        .iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join("."),
                    r.header.dport,
                    s
                );
            }
            Err(e) => println!("malformed: {e}"),
        });
    }
    println!("{:?}", k.counts());
}
