//! IMAP date formats: `date` for SEARCH (`1-Feb-1994`) and `date-time` for APPEND and
//! INTERNALDATE (`"17-Jul-1996 02:44:25 -0700"`), RFC 9051 §9.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

/// `date-day "-" date-month "-" date-year`, day of 1 or 2 digits.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let mut it = s.split('-');
    let (d, m, y) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || d.is_empty() || d.len() > 2 || y.len() != 4 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, month(m)?, d.parse().ok()?)
}

/// `date-day-fixed "-" date-month "-" date-year SP time SP zone` as Unix seconds.
pub fn parse_date_time(s: &str) -> Option<i64> {
    let s = s.strip_prefix(' ').unwrap_or(s);
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let date = parse_date(date)?;
    let mut t = time.split(':');
    let (h, mi, se) = (t.next()?, t.next()?, t.next()?);
    if t.next().is_some() || h.len() != 2 || mi.len() != 2 || se.len() != 2 {
        return None;
    }
    let naive = date.and_hms_opt(h.parse().ok()?, mi.parse().ok()?, se.parse().ok()?)?;
    let zb = zone.as_bytes();
    if zb.len() != 5 || !matches!(zb[0], b'+' | b'-') || !zb[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let zh: i32 = zone[1..3].parse().ok()?;
    let zm: i32 = zone[3..5].parse().ok()?;
    let mut off = zh * 3600 + zm * 60;
    if zb[0] == b'-' {
        off = -off;
    }
    let tz = FixedOffset::east_opt(off)?;
    Some(tz.from_local_datetime(&naive).single()?.timestamp())
}

/// INTERNALDATE as IMAP writes it, in UTC.
pub fn format_date_time(unix: i64) -> String {
    let dt: DateTime<Utc> = Utc.timestamp_opt(unix, 0).single().unwrap_or_default();
    dt.format("%d-%b-%Y %H:%M:%S +0000").to_string()
}

/// The UTC calendar date of a Unix time (SEARCH BEFORE/ON/SINCE compare dates only).
pub fn date_of(unix: i64) -> NaiveDate {
    Utc.timestamp_opt(unix, 0)
        .single()
        .unwrap_or_default()
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("1-Feb-1994"),
            NaiveDate::from_ymd_opt(1994, 2, 1)
        );
        assert_eq!(
            parse_date("01-feb-1994"),
            NaiveDate::from_ymd_opt(1994, 2, 1)
        );
        assert_eq!(parse_date("31-Feb-1994"), None);
        assert_eq!(parse_date("1-Foo-1994"), None);
        assert_eq!(
            parse_date_time("17-Jul-1996 02:44:25 -0700"),
            Some(837596665)
        );
        assert_eq!(
            parse_date_time(" 7-Jul-1996 02:44:25 +0000"),
            Some(836707465)
        );
        assert_eq!(parse_date_time("17-Jul-1996 02:44:25 0700"), None);
        assert_eq!(format_date_time(837596665), "17-Jul-1996 09:44:25 +0000");
        assert_eq!(
            parse_date_time(&format_date_time(1_700_000_000)),
            Some(1_700_000_000)
        );
    }
}
