//! Timestamps as Auth0 prints them: `2024-01-02T03:04:05.678Z`.

use time::{OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description};

const FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

/// Now, in Auth0's format.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    #[test]
    fn format_has_millis_and_z() {
        let t = time::macros::datetime!(2024-01-02 03:04:05.678 UTC);
        assert_eq!(super::format(t), "2024-01-02T03:04:05.678Z");
        assert_eq!(super::now().len(), 24);
    }
}
