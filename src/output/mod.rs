//! What tagship shows and leaves behind: log lines, step outputs (GitHub's file, GitLab's dotenv
//! file, the JSON document), the step summary.

pub mod actions;
pub mod atomic;
pub mod dotenv;
pub mod log;
pub mod render;
pub mod report;
pub mod safe;

/// A size as a person reads it: `512 B`, `4 MiB`, `1.5 GiB` (a decimal only when it is not whole).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(4 << 20), "4 MiB");
        assert_eq!(super::human_bytes(64 << 10), "64 KiB");
        assert_eq!(super::human_bytes(3 << 19), "1.5 MiB");
        assert_eq!(super::human_bytes(1_000_000), "976.6 KiB");
    }
}
