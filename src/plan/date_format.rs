//! Formats a date with moment.js format tokens, the language `{{date 'YYYYMMDD'}}` speaks in
//! docker/metadata-action. Written here because no Rust crate speaks moment's tokens; it covers the
//! tokens moment documents for formatting in its default English locale.

use jiff::Zoned;
use jiff::civil::Weekday;

/// moment's default format, used when `{{date}}` is given no format.
pub const DEFAULT_FORMAT_UTC: &str = "YYYY-MM-DDTHH:mm:ss[Z]";
pub const DEFAULT_FORMAT: &str = "YYYY-MM-DDTHH:mm:ssZ";

/// The format tokens, longest first so that `YYYY` wins over `YY`.
pub const TOKENS: &[&str] = &[
    "YYYYYY",
    "YYYY",
    "YY",
    "Y",
    "MMMM",
    "MMM",
    "MM",
    "Mo",
    "M",
    "DDDD",
    "DDDo",
    "DDD",
    "DD",
    "Do",
    "D",
    "dddd",
    "ddd",
    "dd",
    "do",
    "d",
    "E",
    "e",
    "HH",
    "H",
    "hh",
    "h",
    "kk",
    "k",
    "mm",
    "m",
    "ss",
    "s",
    "SSSSSSSSS",
    "SSSSSSSS",
    "SSSSSSS",
    "SSSSSS",
    "SSSSS",
    "SSSS",
    "SSS",
    "SS",
    "S",
    "A",
    "a",
    "ZZ",
    "Z",
    "X",
    "x",
    "Qo",
    "Q",
    "WW",
    "Wo",
    "W",
    "ww",
    "wo",
    "w",
    "GGGG",
    "GG",
    "gggg",
    "gg",
    "zz",
    "z",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

pub fn format(time: &Zoned, fmt: &str) -> String {
    let mut out = String::with_capacity(fmt.len() + 8);
    let mut rest = fmt;
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            if let Some(end) = rest.find(']') {
                out.push_str(&rest[1..end]);
                rest = &rest[end + 1..];
                continue;
            }
        }
        if c == '\\' {
            let mut chars = rest.chars();
            chars.next();
            if let Some(escaped) = chars.next() {
                out.push(escaped);
                rest = chars.as_str();
                continue;
            }
        }
        match TOKENS.iter().find(|t| rest.starts_with(**t)) {
            Some(token) => {
                out.push_str(&token_value(time, token));
                rest = &rest[token.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

fn sunday_based(weekday: Weekday) -> i8 {
    weekday.to_sunday_zero_offset()
}

fn ordinal(n: i64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// moment's English-locale week of the year: weeks start on Sunday and week 1 holds January 1st.
fn locale_week(time: &Zoned) -> (i64, i64) {
    let date = time.date();
    let year = i64::from(date.year());
    let doy = i64::from(date.day_of_year());
    let jan1 = date.first_of_year();
    let offset = i64::from(sunday_based(jan1.weekday()));
    let week = (doy - 1 + offset) / 7 + 1;
    // The last days of December belong to week 1 of the next year when that week holds January 1st.
    let days_in_year = i64::from(date.days_in_year());
    let next_jan1_weekday = (offset + days_in_year) % 7;
    if doy > days_in_year - next_jan1_weekday && next_jan1_weekday != 0 {
        return (1, year + 1);
    }
    (week, year)
}

fn token_value(time: &Zoned, token: &str) -> String {
    let date = time.date();
    let clock = time.time();
    let year = i64::from(date.year());
    let month = i64::from(date.month());
    let day = i64::from(date.day());
    let hour = i64::from(clock.hour());
    let minute = i64::from(clock.minute());
    let second = i64::from(clock.second());
    let nanos = i64::from(clock.subsec_nanosecond());
    let weekday = i64::from(sunday_based(date.weekday()));
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let offset_seconds = i64::from(time.offset().seconds());
    let iso = date.iso_week_date();
    match token {
        "YYYYYY" => {
            let sign = if year < 0 { '-' } else { '+' };
            format!("{sign}{:06}", year.abs())
        }
        "YYYY" | "Y" => format!("{year:04}"),
        "YY" => format!("{:02}", year.rem_euclid(100)),
        "MMMM" => MONTHS[(month - 1) as usize].to_string(),
        "MMM" => MONTHS[(month - 1) as usize][..3].to_string(),
        "MM" => format!("{month:02}"),
        "Mo" => ordinal(month),
        "M" => month.to_string(),
        "DDDD" => format!("{:03}", date.day_of_year()),
        "DDDo" => ordinal(i64::from(date.day_of_year())),
        "DDD" => date.day_of_year().to_string(),
        "DD" => format!("{day:02}"),
        "Do" => ordinal(day),
        "D" => day.to_string(),
        "dddd" => WEEKDAYS[weekday as usize].to_string(),
        "ddd" => WEEKDAYS[weekday as usize][..3].to_string(),
        "dd" => WEEKDAYS[weekday as usize][..2].to_string(),
        "do" => ordinal(weekday),
        "d" | "e" => weekday.to_string(),
        "E" => date.weekday().to_monday_one_offset().to_string(),
        "HH" => format!("{hour:02}"),
        "H" => hour.to_string(),
        "hh" => format!("{hour12:02}"),
        "h" => hour12.to_string(),
        "kk" => format!("{:02}", if hour == 0 { 24 } else { hour }),
        "k" => (if hour == 0 { 24 } else { hour }).to_string(),
        "mm" => format!("{minute:02}"),
        "m" => minute.to_string(),
        "ss" => format!("{second:02}"),
        "s" => second.to_string(),
        "A" => (if hour < 12 { "AM" } else { "PM" }).to_string(),
        "a" => (if hour < 12 { "am" } else { "pm" }).to_string(),
        "Z" | "ZZ" => {
            let sign = if offset_seconds < 0 { '-' } else { '+' };
            let minutes = offset_seconds.abs() / 60;
            let sep = if token == "Z" { ":" } else { "" };
            format!("{sign}{:02}{sep}{:02}", minutes / 60, minutes % 60)
        }
        "X" => time.timestamp().as_second().to_string(),
        "x" => time.timestamp().as_millisecond().to_string(),
        "Q" => ((month - 1) / 3 + 1).to_string(),
        "Qo" => ordinal((month - 1) / 3 + 1),
        "WW" => format!("{:02}", iso.week()),
        "Wo" => ordinal(i64::from(iso.week())),
        "W" => iso.week().to_string(),
        "GGGG" => format!("{:04}", iso.year()),
        "GG" => format!("{:02}", i64::from(iso.year()).rem_euclid(100)),
        "ww" => format!("{:02}", locale_week(time).0),
        "wo" => ordinal(locale_week(time).0),
        "w" => locale_week(time).0.to_string(),
        "gggg" => format!("{:04}", locale_week(time).1),
        "gg" => format!("{:02}", locale_week(time).1.rem_euclid(100)),
        "z" | "zz" => time
            .time_zone()
            .to_offset_info(time.timestamp())
            .abbreviation()
            .to_string(),
        fraction if fraction.starts_with('S') => {
            let digits = format!("{nanos:09}");
            digits[..fraction.len()].to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use jiff::tz::TimeZone;

    fn at(ts: &str, tz: &str) -> Zoned {
        let ts: Timestamp = ts.parse().unwrap();
        ts.to_zoned(TimeZone::get(tz).unwrap())
    }

    #[test]
    fn formats_moment_tokens() {
        let t = at("2020-01-10T00:30:00.123Z", "UTC");
        let cases = [
            ("YYYYMMDD", "20200110"),
            ("YYYY-MM-DD", "2020-01-10"),
            ("YY.M.D", "20.1.10"),
            ("HHmmss", "003000"),
            ("h:mm A", "12:30 AM"),
            ("dddd, MMMM Do YYYY", "Friday, January 10th 2020"),
            ("ddd MMM", "Fri Jan"),
            ("DDDD", "010"),
            ("SSS", "123"),
            ("X", "1578616200"),
            ("x", "1578616200123"),
            ("Q", "1"),
            ("W GGGG", "2 2020"),
            ("[week] w", "week 2"),
            (DEFAULT_FORMAT_UTC, "2020-01-10T00:30:00Z"),
            ("Z ZZ z", "+00:00 +0000 UTC"),
            ("\\Y YYYY", "Y 2020"),
        ];
        for (fmt, want) in cases {
            assert_eq!(format(&t, fmt), want, "format {fmt}");
        }
    }

    #[test]
    fn honours_time_zone() {
        let t = at("2020-01-10T00:30:00Z", "Asia/Tokyo");
        assert_eq!(format(&t, "YYYYMMDD-HHmm"), "20200110-0930");
        assert_eq!(format(&t, DEFAULT_FORMAT), "2020-01-10T09:30:00+09:00");
        assert_eq!(format(&t, "z"), "JST");
        let t = at("2020-01-10T00:30:00Z", "America/New_York");
        assert_eq!(format(&t, "YYYYMMDD"), "20200109");
    }

    #[test]
    fn week_of_year_rolls_over_in_late_december() {
        // 2019-12-29 is a Sunday; the week holding 2020-01-01 is week 1 of 2020.
        let t = at("2019-12-30T12:00:00Z", "UTC");
        assert_eq!(format(&t, "w gggg"), "1 2020");
        let t = at("2019-12-27T12:00:00Z", "UTC");
        assert_eq!(format(&t, "w gggg"), "52 2019");
    }
}
