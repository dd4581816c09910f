//! The sales data the offline agent summarises: rows read from the CSV or from a query
//! result, and the figures computed from them.

use std::collections::BTreeMap;

use anyhow::Context as _;

/// The first four-digit year (1900–2199) in `query`.
pub(crate) fn year_in(query: &str) -> Option<i64> {
    query
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| w.len() == 4)
        .filter_map(|w| w.parse::<i64>().ok())
        .find(|y| (1900..2200).contains(y))
}

/// The columns a sales row is read from, in [`SalesRow`] field order.
const SALES_COLUMNS: [&str; 6] = ["year", "quarter", "region", "product", "units", "revenue"];

/// Positions of [`SALES_COLUMNS`] among `names` (any case, surrounding spaces ignored).
fn sales_columns(names: &[&str]) -> anyhow::Result<[usize; 6]> {
    let mut positions = [0; 6];
    for (position, wanted) in positions.iter_mut().zip(SALES_COLUMNS) {
        *position = names
            .iter()
            .position(|name| name.trim().eq_ignore_ascii_case(wanted))
            .with_context(|| format!("no column {wanted}"))?;
    }
    Ok(positions)
}

/// One row of sales data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SalesRow {
    pub year: i64,
    pub quarter: String,
    pub region: String,
    pub product: String,
    pub units: i64,
    pub revenue: f64,
}

impl SalesRow {
    /// Rows of a sales CSV with a header line.
    pub(crate) fn parse_csv(text: &str) -> anyhow::Result<Vec<Self>> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers()?.clone();
        let columns = sales_columns(&headers.iter().collect::<Vec<_>>())?;
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record?;
            let field = |i: usize| record.get(columns[i]).unwrap_or_default().trim();
            rows.push(Self {
                year: field(0).parse().context("year is not a number")?,
                quarter: field(1).to_owned(),
                region: field(2).to_owned(),
                product: field(3).to_owned(),
                units: field(4).parse().context("units is not a number")?,
                revenue: field(5).parse().context("revenue is not a number")?,
            });
        }
        Ok(rows)
    }

    /// Rows of a `query_database` result: `{"columns": [...], "rows": [[...]], "truncated"}`.
    pub(crate) fn parse_query_result(text: &str) -> anyhow::Result<(Vec<Self>, bool)> {
        let value: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
        let columns: Vec<&str> = value["columns"]
            .as_array()
            .context("no columns")?
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        let [year, quarter, region, product, units, revenue] = sales_columns(&columns)?;
        let text_of = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let number = |v: &serde_json::Value| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .context("not a number")
        };
        let mut rows = Vec::new();
        for row in value["rows"].as_array().context("no rows")? {
            let row = row.as_array().context("a row is not an array")?;
            let cell = |i: usize| row.get(i).context("a row is too short");
            rows.push(Self {
                year: number(cell(year)?)? as i64,
                quarter: text_of(cell(quarter)?),
                region: text_of(cell(region)?),
                product: text_of(cell(product)?),
                units: number(cell(units)?)? as i64,
                revenue: number(cell(revenue)?)?,
            });
        }
        Ok((rows, value["truncated"].as_bool().unwrap_or(false)))
    }
}

/// The figures the summary states, all computed from tool results.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Facts {
    pub year: i64,
    pub rows: usize,
    pub truncated: bool,
    pub revenue: f64,
    pub units: i64,
    pub previous_revenue: Option<f64>,
    pub quarters: BTreeMap<String, f64>,
    pub regions: BTreeMap<String, f64>,
    pub products: BTreeMap<String, f64>,
    /// The server that answered the query.
    pub db_server: String,
    /// The server the sales file was read through.
    pub file_server: String,
}

fn top(map: &BTreeMap<String, f64>) -> Option<(&str, f64)> {
    map.iter()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, v)| (k.as_str(), *v))
}

impl Facts {
    /// Aggregates the year's rows; the previous year's total comes from `history`.
    pub(crate) fn compute(
        year: i64,
        rows: &[SalesRow],
        truncated: bool,
        history: &[SalesRow],
    ) -> Self {
        let mut facts = Self {
            year,
            rows: rows.len(),
            truncated,
            revenue: 0.0,
            units: 0,
            previous_revenue: None,
            quarters: BTreeMap::new(),
            regions: BTreeMap::new(),
            products: BTreeMap::new(),
            db_server: "the database server".into(),
            file_server: "the file server".into(),
        };
        for row in rows {
            facts.revenue += row.revenue;
            facts.units += row.units;
            *facts.quarters.entry(row.quarter.clone()).or_default() += row.revenue;
            *facts.regions.entry(row.region.clone()).or_default() += row.revenue;
            *facts.products.entry(row.product.clone()).or_default() += row.revenue;
        }
        let previous: Vec<&SalesRow> = history.iter().filter(|r| r.year == year - 1).collect();
        if !previous.is_empty() {
            facts.previous_revenue = Some(previous.iter().map(|r| r.revenue).sum());
        }
        facts
    }

    /// The answer, in plain sentences.
    pub(crate) fn summary(&self) -> String {
        let year = self.year;
        if self.rows == 0 {
            return format!("There are no sales rows for {year} in the database.");
        }
        let mut out = format!(
            "{year} sales: total revenue {} from {} units",
            money(self.revenue),
            group(self.units as f64)
        );
        match self.previous_revenue {
            Some(previous) if previous > 0.0 => {
                let change = (self.revenue / previous - 1.0) * 100.0;
                out.push_str(&format!(
                    ", {} {:.1}% from {} in {}.",
                    if change >= 0.0 { "up" } else { "down" },
                    change.abs(),
                    money(previous),
                    year - 1
                ));
            }
            _ => out.push_str(&format!(" (no {} figures to compare with).", year - 1)),
        }
        let share = |v: f64| v / self.revenue * 100.0;
        if let Some((quarter, revenue)) = top(&self.quarters) {
            out.push_str(&format!(
                "\nStrongest quarter: {quarter} with {} ({:.1}% of the year).",
                money(revenue),
                share(revenue)
            ));
        }
        if let Some((region, revenue)) = top(&self.regions) {
            out.push_str(&format!(
                "\nLeading region: {region} with {} ({:.1}%).",
                money(revenue),
                share(revenue)
            ));
        }
        if let Some((product, revenue)) = top(&self.products) {
            out.push_str(&format!(
                "\nTop product: {product} with {} ({:.1}%).",
                money(revenue),
                share(revenue)
            ));
        }
        out.push_str(&format!(
            "\n(Computed from the {} rows {} returned for {year}{}",
            self.rows,
            self.db_server,
            if self.truncated {
                ", a truncated result"
            } else {
                ""
            },
        ));
        if self.previous_revenue.is_some() {
            out.push_str(&format!(
                "; the {} total comes from the sales file read through {}",
                year - 1,
                self.file_server
            ));
        }
        out.push_str(".)");
        out
    }
}

/// `1234567.0` as `$1,234,567`.
pub(crate) fn money(value: f64) -> String {
    format!("${}", group(value))
}

fn group(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_year_of_the_query() {
        assert_eq!(year_in("Summarize our 2024 sales data"), Some(2024));
        assert_eq!(year_in("sales in FY2023?"), Some(2023));
        assert_eq!(year_in("sales in 2023?"), Some(2023));
        assert_eq!(year_in("Summarize our sales"), None);
        assert_eq!(year_in("top 10000 rows"), None);
    }

    #[test]
    fn formats_money() {
        assert_eq!(money(8874945.0), "$8,874,945");
        assert_eq!(money(999.0), "$999");
        assert_eq!(money(1000.0), "$1,000");
    }

    #[test]
    fn summarises_rows() {
        let row = |year, quarter: &str, region: &str, revenue| SalesRow {
            year,
            quarter: quarter.into(),
            region: region.into(),
            product: "P".into(),
            units: 1,
            revenue,
        };
        let rows = vec![
            row(2024, "Q1", "West", 300.0),
            row(2024, "Q4", "East", 700.0),
        ];
        let history = vec![row(2023, "Q1", "West", 800.0)];
        let summary = Facts::compute(2024, &rows, false, &history).summary();
        assert!(summary.contains("total revenue $1,000"), "{summary}");
        assert!(summary.contains("up 25.0% from $800 in 2023"), "{summary}");
        assert!(
            summary.contains("Strongest quarter: Q4 with $700 (70.0%"),
            "{summary}"
        );
        assert!(summary.contains("Leading region: East"), "{summary}");
    }
}
