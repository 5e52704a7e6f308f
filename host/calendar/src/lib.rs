//! placeholder, replaced by the calendar work
