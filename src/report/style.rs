//! Colours for the terminal, off unless asked for or on a terminal without `NO_COLOR`.
//! Pad first, colour after: escape codes would count toward `format!` widths.

use owo_colors::OwoColorize;

use crate::event::Status;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Styles {
    pub enabled: bool,
}

impl Styles {
    pub(crate) fn status(self, status: Status, text: &str) -> String {
        if !self.enabled {
            return text.to_owned();
        }
        match status {
            Status::Passed => text.green().to_string(),
            Status::Flaky => text.yellow().to_string(),
            Status::Failed | Status::TimedOut => text.red().bold().to_string(),
            Status::Cancelled | Status::Skipped => text.dimmed().to_string(),
        }
    }

    pub(crate) fn bold(self, text: &str) -> String {
        if self.enabled {
            text.bold().to_string()
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn dim(self, text: &str) -> String {
        if self.enabled {
            text.dimmed().to_string()
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn warn(self, text: &str) -> String {
        if self.enabled {
            text.yellow().to_string()
        } else {
            text.to_owned()
        }
    }
}
