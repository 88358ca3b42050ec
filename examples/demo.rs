/// A small inventory of items with prices.
struct Item {
    name: String,
    price_cents: u64,
}

/// Returns the total price of all items, in cents.
fn total_price(items: &[Item]) -> u64 {
    items.iter().map(|item| item.price_cents).sum()
}

fn main() {
    let items = vec![
        Item { name: "apple".to_string(), price_cents: 50 },
        Item { name: "pear".to_string(), price_cents: 75 },
    ];
    let total = total_price(&items);
    println!("The total is {} cents", 
}
