#!/usr/bin/env python3
"""Regenerates sales.csv, the sample data both servers read.

Deterministic (fixed seed): running it again rewrites the same file. Monthly unit sales per
region and product for 2023 and 2024, with seasonality (Q4 strongest), growth in 2024 that
differs by region (West leads), and list prices that rise a little in 2024.
"""
import csv
import random
from pathlib import Path

random.seed(2024)
REGIONS = {"North": 1.00, "South": 0.85, "East": 1.10, "West": 1.25}
GROWTH_2024 = {"North": 1.12, "South": 1.04, "East": 1.15, "West": 1.31}
PRODUCTS = {"Analytics Suite": (1200, 40), "Data Connector": (450, 110), "Support Plan": (300, 160)}
PRICE_2024 = {"Analytics Suite": 1260, "Data Connector": 450, "Support Plan": 315}
SEASON = [0.82, 0.86, 0.95, 0.93, 0.97, 1.00, 0.94, 0.92, 1.03, 1.08, 1.16, 1.34]

rows = []
for year in (2023, 2024):
    for month in range(1, 13):
        quarter = f"Q{(month - 1) // 3 + 1}"
        for region, size in REGIONS.items():
            for product, (price, base_units) in PRODUCTS.items():
                growth = GROWTH_2024[region] if year == 2024 else 1.0
                units = round(base_units * size * growth * SEASON[month - 1] * random.uniform(0.93, 1.07))
                unit_price = PRICE_2024[product] if year == 2024 else price
                rows.append([year, month, quarter, region, product, units, units * unit_price])

out = Path(__file__).with_name("sales.csv")
with out.open("w", newline="") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(["year", "month", "quarter", "region", "product", "units", "revenue"])
    writer.writerows(rows)
print(f"wrote {len(rows)} rows to {out}")
