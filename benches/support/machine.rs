//! The date, command line, CPU and load that head every printed comparison, so that its output
//! can be pasted into the docs as is.

use super::harness::cpu_count;
use std::time::{SystemTime, UNIX_EPOCH};

/// Prints the date, `invocation` followed by this process's arguments, the CPU and the load.
pub fn print_header(invocation: &str) {
    let command: Vec<String> = std::env::args().skip(1).collect();
    println!("date:     {}", utc_now());
    println!(
        "command:  {invocation}{}{}",
        if command.is_empty() { "" } else { " -- " },
        command.join(" ")
    );
    println!("machine:  {} CPUs (available_parallelism), {}", cpu_count(), cpu_model());
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("load:     {} (1/5/15 min, at start)", load.join(" "));
    }
    if cfg!(debug_assertions) {
        println!("WARNING:  debug build; run with --release for meaningful figures");
    }
    println!();
}

/// The CPU's model name from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC` (no date crate: civil-from-days by hand).
pub fn utc_now() -> String {
    let seconds =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    let (days, second_of_day) = ((seconds / 86_400) as i64, seconds % 86_400);
    // Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        second_of_day / 3600,
        second_of_day % 3600 / 60
    )
}
