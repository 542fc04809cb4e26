//! Aligned text tables: every column as wide as its widest cell, two spaces between
//! columns, no trailing spaces.

/// A table of text cells, with an optional header row.
pub(super) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

/// The text of an absent value.
pub(super) const NONE: &str = "-";

impl Table {
    /// A table with these column headers; no header row when `headers` is empty.
    pub(super) fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells print empty, extra cells are kept.
    pub(super) fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table as lines, each ending in a newline.
    pub(super) fn render(&self) -> String {
        let header: Vec<String> = self.headers.iter().map(|&cell| cell.to_owned()).collect();
        let lines: Vec<&Vec<String>> = std::iter::once(&header)
            .filter(|header| !header.is_empty())
            .chain(&self.rows)
            .collect();
        let columns = lines.iter().map(|line| line.len()).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for line in &lines {
            for (width, cell) in widths.iter_mut().zip(line.iter()) {
                *width = (*width).max(cell.chars().count());
            }
        }

        let mut text = String::new();
        for line in lines {
            let mut rendered = String::new();
            for (index, width) in widths.iter().enumerate() {
                let cell = line.get(index).map_or("", String::as_str);
                let padding = width.saturating_sub(cell.chars().count());
                rendered.push_str(cell);
                rendered.push_str(&" ".repeat(padding + 2));
            }
            text.push_str(rendered.trim_end());
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_by_characters_without_trailing_spaces() {
        let mut table = Table::new(&["USER", "NAME"]);
        table.push(vec!["zoë".into(), "Zoë Ünal".into()]);
        table.push(vec!["administrator".into(), NONE.into()]);
        assert_eq!(
            table.render(),
            "USER           NAME\nzoë            Zoë Ünal\nadministrator  -\n"
        );
    }

    #[test]
    fn a_table_without_headers_prints_only_rows() {
        let mut table = Table::new(&[]);
        table.push(vec!["username".into(), "alice".into()]);
        table.push(vec!["groups".into(), "staff".into()]);
        assert_eq!(table.render(), "username  alice\ngroups    staff\n");
    }
}
