"""Shop platforms' export layouts, written as the platforms write them, with invented rows.

Headers follow the platforms' documentation and public parsers (docs/data.md lists the sources); every
name, address and order here is made up. Each export has a multi-line order and a cancelled (or
otherwise not-sold) order, and ``EXPECTED`` says what an ingest must find in it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path


def _csv(header: list[str], rows: list[list[str]], *, delimiter: str = ",") -> str:
    out = io.StringIO()
    w = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(r + [""] * (len(header) - len(r)))
    return out.getvalue()


def _cols(header: str, sep: str = ",") -> list[str]:
    return header.split(sep)


def _rows(header: list[str], records: list[dict]) -> list[list[str]]:
    return [[str(r.get(h, "")) for h in header] for r in records]


SHOPIFY_ORDERS_HEADER = _cols(
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,"
    "Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,"
    "Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,Lineitem taxable,"
    "Lineitem fulfillment status,Billing Name,Billing Street,Billing City,Billing Zip,Billing Country,Billing Phone,"
    "Shipping Name,Shipping City,Shipping Zip,Shipping Country,Notes,Cancelled at,Payment Method,Refunded Amount,"
    "Vendor,Id,Tags,Risk Level,Source"
)


def shopify_orders() -> str:
    first = {"Accepts Marketing": "no", "Currency": "EUR", "Shipping Method": "Standard", "Billing Zip": "'01067"}
    recs = [
        # A multi-line order: status, payment and addresses on its first line only.
        {**first, "Name": "#1001", "Email": "ann@example.com", "Financial Status": "paid",
         "Paid at": "2024-03-05 14:22:01 +0100", "Created at": "2024-03-05 14:22:01 +0100", "Lineitem quantity": 2,
         "Lineitem name": "Aurora Lamp - Blue", "Lineitem price": "15.00", "Lineitem sku": "LAMP-B",
         "Billing Name": "Ann Example", "Billing Country": "DE", "Shipping Country": "DE", "Id": "5001"},
        {"Name": "#1001", "Email": "ann@example.com", "Created at": "2024-03-05 14:22:01 +0100",
         "Lineitem quantity": 1, "Lineitem name": "Linen Throw", "Lineitem price": "10.00", "Lineitem sku": ""},
        # Voided: never paid.
        {**first, "Name": "#1002", "Email": "bob@example.com", "Financial Status": "voided",
         "Created at": "2024-03-12 09:00:00 +0100", "Lineitem quantity": 1, "Lineitem name": "Aurora Lamp - Blue",
         "Lineitem price": "15.00", "Lineitem sku": "LAMP-B", "Id": "5002"},
        # Cancelled after payment (Cancelled at set); the summer-time offset changes to +0200.
        {**first, "Name": "#1003", "Email": "cy@example.com", "Financial Status": "paid",
         "Created at": "2024-04-02 10:00:00 +0200", "Cancelled at": "2024-04-03 10:00:00 +0200",
         "Lineitem quantity": 1, "Lineitem name": "Aurora Lamp - Red", "Lineitem price": "15.00",
         "Lineitem sku": "LAMP-R", "Id": "5003"},
        # Refunded: sold, then the units came back.
        {**first, "Name": "#1004", "Email": "di@example.com", "Financial Status": "refunded",
         "Created at": "2024-04-09 10:00:00 +0200", "Lineitem quantity": 3, "Lineitem name": "Linen Throw",
         "Lineitem price": "10.00", "Refunded Amount": "30.00", "Id": "5004"},
        {**first, "Name": "#1005", "Email": "ed@example.com", "Financial Status": "paid",
         "Created at": "2024-04-16 18:30:00 +0200", "Lineitem quantity": 1, "Lineitem name": "Aurora Lamp - Red",
         "Lineitem price": "15.00", "Lineitem sku": "LAMP-R", "Id": "5005"},
    ]  # fmt: skip
    return _csv(SHOPIFY_ORDERS_HEADER, _rows(SHOPIFY_ORDERS_HEADER, recs))


SHOPIFY_PRODUCTS_HEADER = _cols(
    "Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,"
    "Option2 Value,Variant SKU,Variant Grams,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,"
    "Variant Price,Variant Compare At Price,Variant Barcode,Image Src,Image Position,Image Alt Text,Gift Card,"
    "SEO Title,Cost per item,Status"
)


def shopify_products() -> str:
    recs = [
        {"Handle": "aurora-lamp", "Title": "Aurora Lamp", "Body (HTML)": "<p>A warm <b>bedside</b> lamp &amp; dimmer</p>",
         "Vendor": "Lumo", "Product Category": "Home & Garden > Lighting", "Type": "Lamp", "Published": "true",
         "Option1 Name": "Color", "Option1 Value": "Blue", "Variant SKU": "LAMP-B", "Variant Inventory Qty": "4",
         "Variant Price": "15.00", "Variant Barcode": "'4006381333931", "Image Src": "https://cdn.example/1.jpg",
         "Image Position": "1", "Cost per item": "6.00", "Status": "active"},
        # A second variant: the product's title, description and vendor left empty.
        {"Handle": "aurora-lamp", "Option1 Value": "Red", "Variant SKU": "LAMP-R", "Variant Inventory Qty": "-2",
         "Variant Price": "15.00", "Cost per item": "6.00"},
        # An image-only row.
        {"Handle": "aurora-lamp", "Image Src": "https://cdn.example/2.jpg", "Image Position": "2"},
        # No SKU (a small shop): keyed by its handle; orders name it by title.
        {"Handle": "linen-throw", "Title": "Linen Throw", "Body (HTML)": "<p>Soft washed linen</p>", "Vendor": "Lumo",
         "Product Category": "Home & Garden > Textiles", "Type": "Throw", "Published": "true", "Option1 Name": "Title",
         "Option1 Value": "Default Title", "Variant Inventory Qty": "7", "Variant Price": "10.00",
         "Cost per item": "4.00", "Status": "active"},
    ]  # fmt: skip
    return _csv(SHOPIFY_PRODUCTS_HEADER, _rows(SHOPIFY_PRODUCTS_HEADER, recs))


WOO_PRODUCTS_HEADER = [
    "ID", "Type", "SKU", "GTIN, UPC, EAN, or ISBN", "Name", "Published", "Is featured?", "Visibility in catalog",
    "Short description", "Description", "Tax status", "In stock?", "Stock", "Backorders allowed?", "Sale price",
    "Regular price", "Categories", "Tags", "Images", "Parent", "Position",
]  # fmt: skip


def woocommerce_products() -> str:
    recs = [
        {"ID": "11", "Type": "simple", "SKU": "MUG-01", "Name": "Stoneware Mug", "Published": "1",
         "Description": "Hand-glazed stoneware.\\nDishwasher safe.", "In stock?": "1", "Stock": "12",
         "Regular price": "9.5", "Categories": "Kitchen > Mugs"},
        {"ID": "12", "Type": "variable", "SKU": "", "Name": "Wool Beanie", "Published": "1",
         "Description": "<p>Merino wool</p>", "In stock?": "1", "Stock": "", "Regular price": "",
         "Categories": "Clothing > Hats"},
        {"ID": "13", "Type": "variation", "SKU": "BEANIE-GRY", "Name": "Wool Beanie - Grey", "Published": "1",
         "In stock?": "1", "Stock": "parent", "Regular price": "18", "Parent": "id:12"},
    ]  # fmt: skip
    return "\ufeff" + _csv(WOO_PRODUCTS_HEADER, _rows(WOO_PRODUCTS_HEADER, recs))


WOO_ORDERS_HEADER = [
    "Order Number", "Order Status", "Order Date", "Customer Note", "First Name (Billing)", "Last Name (Billing)",
    "Country Code (Billing)", "Email (Billing)", "Phone (Billing)", "SKU", "Item #", "Item Name",
    "Quantity (- Refund)", "Item Cost", "Order Total Amount",
]  # fmt: skip


def woocommerce_orders() -> str:
    recs = [
        {"Order Number": "2001", "Order Status": "Completed", "Order Date": "2024-05-06 10:15",
         "First Name (Billing)": "Ann", "Country Code (Billing)": "GB", "Email (Billing)": "ann@example.com",
         "Phone (Billing)": "+44 20 7946 0000", "SKU": "MUG-01", "Item #": "1", "Item Name": "Stoneware Mug",
         "Quantity (- Refund)": "2", "Item Cost": "9.50", "Order Total Amount": "37.00"},
        # Second line of the same order: order columns left empty ("populate other columns" off).
        {"Order Number": "2001", "SKU": "BEANIE-GRY", "Item #": "2", "Item Name": "Wool Beanie - Grey",
         "Quantity (- Refund)": "1", "Item Cost": "18.00"},
        {"Order Number": "2002", "Order Status": "Cancelled", "Order Date": "2024-05-07 09:00",
         "Email (Billing)": "bob@example.com", "SKU": "MUG-01", "Item #": "1", "Item Name": "Stoneware Mug",
         "Quantity (- Refund)": "4", "Item Cost": "9.50"},
        {"Order Number": "2003", "Order Status": "Processing", "Order Date": "2024-05-14 12:00",
         "Email (Billing)": "cy@example.com", "SKU": "MUG-01", "Item #": "1", "Item Name": "Stoneware Mug",
         "Quantity (- Refund)": "1", "Item Cost": "9.50"},
        {"Order Number": "2004", "Order Status": "Pending payment", "Order Date": "2024-05-15 12:00",
         "SKU": "BEANIE-GRY", "Item #": "1", "Item Name": "Wool Beanie - Grey", "Quantity (- Refund)": "1",
         "Item Cost": "18.00"},
    ]  # fmt: skip
    return _csv(WOO_ORDERS_HEADER, _rows(WOO_ORDERS_HEADER, recs))


WOO_ANALYTICS_HEADER = [
    "Date", "Order #", "Status", "Customer", "Customer type", "Payment method", "Product(s)", "Items sold",
    "Coupon(s)", "Net sales", "Attribution",
]  # fmt: skip


def woocommerce_analytics_orders() -> str:
    recs = [
        {"Date": "2024-05-06T10:15:00", "Order #": "2001", "Status": "completed", "Customer": "Ann Example",
         "Customer type": "new", "Product(s)": "2× Stoneware Mug, 1× Wool Beanie - Grey", "Items sold": "3",
         "Net sales": "37.00"},
        {"Date": "2024-05-07T09:00:00", "Order #": "2002", "Status": "cancelled", "Customer": "Bob Example",
         "Product(s)": "4× Stoneware Mug", "Items sold": "4", "Net sales": "38.00"},
        {"Date": "2024-05-14T12:00:00", "Order #": "2003", "Status": "processing", "Customer": "Cy Example",
         "Product(s)": "1× Stoneware Mug", "Items sold": "1", "Net sales": "9.50"},
    ]  # fmt: skip
    return _csv(WOO_ANALYTICS_HEADER, _rows(WOO_ANALYTICS_HEADER, recs))


ETSY_ITEMS_HEADER = _cols(
    "Sale Date,Item Name,Buyer,Quantity,Price,Coupon Code,Coupon Details,Discount Amount,Shipping Discount,"
    "Order Shipping,Order Sales Tax,Item Total,Currency,Transaction ID,Listing ID,Date Paid,Date Shipped,Ship Name,"
    "Ship Address1,Ship City,Ship State,Ship Zipcode,Ship Country,Order ID,Variations,Order Type,Listings Type,"
    "Payment Type,VAT Paid by Buyer,SKU"
)


def etsy_order_items() -> str:
    recs = [
        {"Sale Date": "03/02/24", "Item Name": "Pressed Flower Card", "Buyer": "annex", "Quantity": "2",
         "Price": "4.50", "Transaction ID": "9001", "Listing ID": "150001", "Ship Country": "United States",
         "Order ID": "3001", "SKU": ""},
        {"Sale Date": "03/02/24", "Item Name": "Linen Bookmark", "Buyer": "annex", "Quantity": "1", "Price": "3.00",
         "Transaction ID": "9002", "Listing ID": "150002", "Ship Country": "United States", "Order ID": "3001",
         "SKU": "BM-LIN"},
        {"Sale Date": "03/18/24", "Item Name": "Pressed Flower Card", "Buyer": "bobx", "Quantity": "5",
         "Price": "4.50", "Transaction ID": "9003", "Listing ID": "150001", "Ship Country": "Canada",
         "Order ID": "3002", "SKU": ""},
        {"Sale Date": "03/25/24", "Item Name": "Pressed Flower Card", "Buyer": "cyx", "Quantity": "1",
         "Price": "4.50", "Transaction ID": "9004", "Listing ID": "150001", "Ship Country": "Canada",
         "Order ID": "3003", "SKU": ""},
    ]  # fmt: skip
    return _csv(ETSY_ITEMS_HEADER, _rows(ETSY_ITEMS_HEADER, recs))


ETSY_ORDERS_HEADER = _cols(
    "Sale Date,Order ID,Buyer User ID,Full Name,First Name,Last Name,Number of Items,Payment Method,Date Shipped,"
    "Street 1,Ship City,Ship State,Ship Zipcode,Ship Country,Currency,Order Value,Discount Amount,Shipping,"
    "Sales Tax,Order Total,Status,Card Processing Fees,Order Net,Adjusted Order Total,Buyer,Order Type,SKU"
)


def etsy_orders() -> str:
    recs = [
        {"Sale Date": "03/02/24", "Order ID": "3001", "Full Name": "Ann Example", "Number of Items": "3",
         "Order Value": "12.00", "Order Total": "15.00", "Status": "Completed", "Buyer": "annex"},
        {"Sale Date": "03/18/24", "Order ID": "3002", "Full Name": "Bob Example", "Number of Items": "5",
         "Order Value": "22.50", "Order Total": "25.00", "Status": "Canceled", "Buyer": "bobx"},
        {"Sale Date": "03/25/24", "Order ID": "3003", "Full Name": "Cy Example", "Number of Items": "1",
         "Order Value": "4.50", "Order Total": "7.00", "Status": "Paid", "Buyer": "cyx"},
    ]  # fmt: skip
    return _csv(ETSY_ORDERS_HEADER, _rows(ETSY_ORDERS_HEADER, recs))


AMAZON_HEADER = _cols(
    "amazon-order-id\tmerchant-order-id\tpurchase-date\tlast-updated-date\torder-status\tfulfillment-channel\t"
    "sales-channel\torder-channel\turl\tship-service-level\tproduct-name\tsku\tasin\titem-status\tquantity\tcurrency\t"
    "item-price\titem-tax\tshipping-price\tshipping-tax\tgift-wrap-price\tgift-wrap-tax\titem-promotion-discount\t"
    "ship-promotion-discount\tship-city\tship-state\tship-postal-code\tship-country\tpromotion-ids\tis-business-order",
    sep="\t",
)


def amazon_orders() -> str:
    base = {"fulfillment-channel": "Amazon", "sales-channel": "Amazon.de", "currency": "EUR", "ship-country": "DE"}
    recs = [
        # Two lines of one order; one of them cancelled while the other shipped.
        {**base, "amazon-order-id": "302-1111111-0000001", "purchase-date": "2024-06-03T08:04:21+00:00",
         "order-status": "Shipped", "product-name": "Bamboo Cutting Board", "sku": "BOARD-L", "asin": "B0AAAAAAA1",
         "item-status": "Shipped", "quantity": "2", "item-price": "39.80"},
        {**base, "amazon-order-id": "302-1111111-0000001", "purchase-date": "2024-06-03T08:04:21+00:00",
         "order-status": "Shipped", "product-name": "Olive Wood Spoon", "sku": "SPOON-1", "asin": "B0AAAAAAA2",
         "item-status": "Cancelled", "quantity": "1", "item-price": "7.50"},
        {**base, "amazon-order-id": "302-2222222-0000002", "purchase-date": "2024-06-05T19:40:00+00:00",
         "order-status": "Cancelled", "product-name": "Bamboo Cutting Board", "sku": "BOARD-L", "asin": "B0AAAAAAA1",
         "item-status": "Cancelled", "quantity": "1", "item-price": ""},
        {**base, "amazon-order-id": "302-3333333-0000003", "purchase-date": "2024-06-12T11:00:00+00:00",
         "order-status": "Shipped - Delivered to Buyer", "product-name": "Olive Wood Spoon", "sku": "SPOON-1",
         "asin": "B0AAAAAAA2", "item-status": "Shipped", "quantity": "3", "item-price": "22.50"},
    ]  # fmt: skip
    text = _csv(AMAZON_HEADER, _rows(AMAZON_HEADER, recs), delimiter="\t")
    # Amazon leaves out a row's trailing empty cells.
    return "\n".join(line.rstrip("\t") for line in text.split("\n"))


EBAY_HEADER = _cols(
    "Sales Record Number,Order Number,Buyer Username,Buyer Name,Buyer Email,Buyer Note,Buyer Address 1,Buyer City,"
    "Buyer Zip,Buyer Country,Ship To Name,Ship To Phone,Ship To Address 1,Ship To City,Ship To Zip,Ship To Country,"
    "Item Number,Item Title,Custom Label,Sold Via Promoted Listings,Quantity,Sold For,Shipping And Handling,"
    "Total Price,Payment Method,Sale Date,Paid On Date,Ship By Date,Shipped On Date,Feedback Left,Transaction ID,"
    "Variation Details"
)


def ebay_orders() -> str:
    recs = [
        {"Sales Record Number": "101", "Order Number": "11-11111-11111", "Buyer Username": "ann_buys",
         "Buyer Name": "Ann Example", "Ship To Country": "United States", "Item Number": "2750000001",
         "Item Title": "Vintage Brass Compass", "Custom Label": "CMP-01", "Quantity": "1", "Sold For": "$24.00",
         "Total Price": "$29.00", "Sale Date": "Mar-04-24", "Paid On Date": "Mar-04-24"},
        # A multi-item order: a summary row (no item number, Sold For is the order's total), then its items.
        {"Sales Record Number": "102", "Order Number": "22-22222-22222", "Buyer Username": "bob_buys",
         "Buyer Name": "Bob Example", "Ship To Country": "United States", "Quantity": "3", "Sold For": "$60.00",
         "Total Price": "$66.00", "Sale Date": "Mar-11-24", "Paid On Date": "Mar-11-24"},
        {"Sales Record Number": "102", "Order Number": "22-22222-22222", "Item Number": "2750000001",
         "Item Title": "Vintage Brass Compass", "Custom Label": "CMP-01", "Quantity": "2", "Sold For": "$24.00"},
        {"Sales Record Number": "102", "Order Number": "22-22222-22222", "Item Number": "2750000002",
         "Item Title": "Nautical Chart Print", "Custom Label": "", "Quantity": "1", "Sold For": "$12.00"},
        # Never paid: left unpaid and cancelled.
        {"Sales Record Number": "103", "Order Number": "33-33333-33333", "Buyer Username": "cy_buys",
         "Item Number": "2750000002", "Item Title": "Nautical Chart Print", "Quantity": "4", "Sold For": "$12.00",
         "Sale Date": "Mar-18-24", "Paid On Date": ""},
    ]  # fmt: skip
    width = len(EBAY_HEADER)
    body = _csv(EBAY_HEADER, _rows(EBAY_HEADER, recs))
    header, rest = body.split("\n", 1)
    # eBay frames the report: a line of bare commas, the header, an empty padding row, the rows, a blank
    # line and a footer.
    return (
        "," * (width - 1) + "\n" + header + "\n" + "," * (width - 1) + "\n" + rest + "\n"
        "4,record(s) downloaded,from Mar-01-24 to Mar-31-24\nSeller ID : example_seller\n"
    )


MAGENTO_CATALOG_HEADER = _cols(
    "sku,store_view_code,attribute_set_code,product_type,categories,product_websites,name,description,"
    "short_description,weight,product_online,tax_class_name,visibility,price,special_price,url_key,created_at,"
    "updated_at,additional_attributes,qty,out_of_stock_qty,use_config_min_qty,is_qty_decimal,allow_backorders,"
    "use_config_backorders,is_in_stock,manage_stock"
)


def magento_catalog() -> str:
    recs = [
        {"sku": "TEE-ORG", "attribute_set_code": "Default", "product_type": "simple",
         "categories": "Default Category/Clothing/T-Shirts", "product_websites": "base", "name": "Organic Cotton Tee",
         "description": "<p>Heavyweight organic cotton</p>", "product_online": "1", "visibility": "Catalog, Search",
         "price": "25.0000", "created_at": "3/5/24, 9:10 AM", "qty": "100.0000", "allow_backorders": "0",
         "is_in_stock": "1", "manage_stock": "1"},
        # A store view's translation of the same product.
        {"sku": "TEE-ORG", "store_view_code": "de", "name": "Bio-Baumwoll-T-Shirt"},
        {"sku": "CAP-WAX", "attribute_set_code": "Default", "product_type": "simple",
         "categories": "Default Category/Accessories", "product_websites": "base", "name": "Waxed Canvas Cap",
         "description": "Water-repellent waxed canvas", "product_online": "1", "price": "32.0000",
         "created_at": "3/5/24, 9:12 AM", "qty": "40.0000", "allow_backorders": "0", "is_in_stock": "1"},
    ]  # fmt: skip
    return _csv(MAGENTO_CATALOG_HEADER, _rows(MAGENTO_CATALOG_HEADER, recs))


MAGENTO_ITEMS_HEADER = _cols(
    "item_id,order_id,parent_item_id,store_id,created_at,updated_at,product_id,product_type,sku,name,qty_canceled,"
    "qty_invoiced,qty_ordered,qty_refunded,qty_shipped,price,base_price,row_total"
)


def magento_order_items() -> str:
    recs = [
        {"item_id": "1", "order_id": "501", "created_at": "2024-03-11 10:00:00", "product_id": "7",
         "product_type": "simple", "sku": "TEE-ORG", "name": "Organic Cotton Tee", "qty_canceled": "0.0000",
         "qty_ordered": "2.0000", "qty_refunded": "0.0000", "price": "25.0000"},
        {"item_id": "2", "order_id": "501", "created_at": "2024-03-11 10:00:00", "product_id": "8",
         "product_type": "simple", "sku": "CAP-WAX", "name": "Waxed Canvas Cap", "qty_canceled": "0.0000",
         "qty_ordered": "1.0000", "qty_refunded": "1.0000", "price": "32.0000"},
        # A cancelled order's line: every unit cancelled.
        {"item_id": "3", "order_id": "502", "created_at": "2024-03-12 15:30:00", "product_id": "7",
         "product_type": "simple", "sku": "TEE-ORG", "name": "Organic Cotton Tee", "qty_canceled": "3.0000",
         "qty_ordered": "3.0000", "price": "25.0000"},
        # A configurable's parent line and the child that repeats it.
        {"item_id": "4", "order_id": "503", "created_at": "2024-03-19 08:00:00", "product_id": "9",
         "product_type": "configurable", "sku": "TEE-ORG", "name": "Organic Cotton Tee", "qty_canceled": "0.0000",
         "qty_ordered": "1.0000", "price": "25.0000"},
        {"item_id": "5", "order_id": "503", "parent_item_id": "4", "created_at": "2024-03-19 08:00:00",
         "product_id": "7", "product_type": "simple", "sku": "TEE-ORG", "name": "Organic Cotton Tee",
         "qty_canceled": "0.0000", "qty_ordered": "1.0000", "price": "0.0000"},
    ]  # fmt: skip
    return _csv(MAGENTO_ITEMS_HEADER, _rows(MAGENTO_ITEMS_HEADER, recs))


TAOBAO_ORDERS_HEADER = _cols(
    "订单编号,买家会员名,买家支付宝账号,买家应付货款,买家应付邮费,买家支付积分,总金额,返点积分,买家实际支付金额,"
    "买家实际支付积分,订单状态,买家留言,收货人姓名,收货地址 ,运送方式,联系电话 ,联系手机,订单创建时间,订单付款时间 ,"
    "宝贝标题 ,宝贝种类,物流单号 ,物流公司,订单备注,宝贝总数量,店铺Id,店铺名称,订单关闭原因"
)


def taobao_orders() -> bytes:
    recs = [
        {"订单编号": '="2024030512345678901"', "买家会员名": "tb_ann", "总金额": "99.00", "买家实际支付金额": "99.00",
         "订单状态": "交易成功", "收货人姓名": "张三", "联系手机": "13800138000", "订单创建时间": "2024-03-05 21:03:11",
         "订单付款时间 ": "2024-03-05 21:04:00", "宝贝标题 ": "真丝眼罩 桑蚕丝睡眠眼罩", "宝贝总数量": "3"},
        {"订单编号": '="2024031212345678902"', "买家会员名": "tb_bob", "总金额": "39.00", "买家实际支付金额": "0.00",
         "订单状态": "交易关闭", "订单创建时间": "2024-03-12 08:00:00", "宝贝总数量": "1", "订单关闭原因": "买家不想买了"},
        {"订单编号": '="2024031912345678903"', "买家会员名": "tb_cy", "总金额": "60.00", "买家实际支付金额": "60.00",
         "订单状态": "卖家已发货，等待买家确认", "订单创建时间": "2024-03-19 12:30:00", "宝贝总数量": "2"},
    ]  # fmt: skip
    return _csv(TAOBAO_ORDERS_HEADER, _rows(TAOBAO_ORDERS_HEADER, recs)).encode("gb18030")


TAOBAO_ITEMS_HEADER = _cols("订单编号,标题,价格,购买数量,外部系统编号,商品属性,套餐信息,备注,订单状态,商家编码")


def taobao_items() -> bytes:
    recs = [
        {"订单编号": '="2024030512345678901"', "标题": "真丝眼罩 桑蚕丝睡眠眼罩", "价格": "39.00", "购买数量": "1",
         "商品属性": "颜色分类：黑色", "订单状态": "交易成功", "商家编码": '="YZ-001"'},
        {"订单编号": '="2024030512345678901"', "标题": "真丝枕套 双面桑蚕丝", "价格": "30.00", "购买数量": "2",
         "商品属性": "颜色分类：香槟", "订单状态": "交易成功", "商家编码": '="ZT-002"'},
        {"订单编号": '="2024031212345678902"', "标题": "真丝眼罩 桑蚕丝睡眠眼罩", "价格": "39.00", "购买数量": "1",
         "订单状态": "交易关闭", "商家编码": '="YZ-001"'},
        {"订单编号": '="2024031912345678903"', "标题": "真丝枕套 双面桑蚕丝", "价格": "30.00", "购买数量": "2",
         "订单状态": "卖家已发货，等待买家确认", "商家编码": '="ZT-002"'},
    ]  # fmt: skip
    return _csv(TAOBAO_ITEMS_HEADER, _rows(TAOBAO_ITEMS_HEADER, recs)).encode("gb18030")


JD_HEADER = _cols(
    "订单号,商品ID,商品名称,订购数量,支付方式,下单时间,京东价,订单金额,结算金额,余额支付,应付金额,订单状态,订单类型,"
    "下单帐号,客户姓名,客户地址,联系电话,订单备注,发票类型,商家备注,运费金额,付款确认时间,货号,订单完成时间"
)


def jd_orders() -> bytes:
    recs = [
        # One order, two SKU lines; the order amount is repeated on each line.
        {"订单号": "280000000001", "商品ID": "100012345601", "商品名称": "不锈钢保温杯 500ml", "订购数量": "2",
         "支付方式": "在线支付", "下单时间": "2024-04-01 09:15:00", "京东价": "79.00", "订单金额": "207.00",
         "应付金额": "207.00", "订单状态": "完成", "下单帐号": "jd_ann", "客户姓名": "李四", "联系电话": "13900139000",
         "付款确认时间": "2024-04-01 09:16:00", "货号": "BWB-500"},
        {"订单号": "280000000001", "商品ID": "100012345602", "商品名称": "硅胶杯套", "订购数量": "1",
         "支付方式": "在线支付", "下单时间": "2024-04-01 09:15:00", "京东价": "49.00", "订单金额": "207.00",
         "应付金额": "207.00", "订单状态": "完成", "下单帐号": "jd_ann", "货号": ""},
        {"订单号": "280000000002", "商品ID": "100012345601", "商品名称": "不锈钢保温杯 500ml", "订购数量": "1",
         "下单时间": "2024-04-03 20:00:00", "京东价": "79.00", "订单金额": "79.00", "订单状态": "已取消",
         "下单帐号": "jd_bob", "付款确认时间": "0001-01-01 00:00:00", "货号": "BWB-500"},
        {"订单号": "280000000003", "商品ID": "100012345601", "商品名称": "不锈钢保温杯 500ml", "订购数量": "1",
         "下单时间": "2024-04-10 11:00:00", "京东价": "79.00", "订单金额": "79.00", "订单状态": "锁定",
         "下单帐号": "jd_cy", "货号": "BWB-500"},
        {"订单号": "280000000004", "商品ID": "100012345601", "商品名称": "不锈钢保温杯 500ml", "订购数量": "3",
         "下单时间": "2024-04-15 11:00:00", "京东价": "79.00", "订单金额": "237.00", "订单状态": "等待出库",
         "下单帐号": "jd_di", "货号": "BWB-500"},
    ]  # fmt: skip
    return _csv(JD_HEADER, _rows(JD_HEADER, recs)).encode("gb18030")


PDD_HEADER = _cols(
    "商品,订单号,订单状态,商品总价(元),店铺优惠折扣(元),平台优惠折扣(元),邮费(元),用户实付金额(元),商家实收金额（元）,"
    "商品数量(件),身份证姓名,身份证号码,收货人,手机,省,市,区,街道,支付时间,拼单成功时间,订单确认时间,承诺发货时间,"
    "发货时间,确认收货时间,商品id,商品规格,用户购买手机号,样式ID,商家编码-SKU维度,商家编码-商品维度,快递单号,快递公司,"
    "商家备注,售后状态,买家留言"
)


def pinduoduo_orders() -> str:
    # Cells padded with a tab, as Pinduoduo writes them to keep Excel from reformatting numbers.
    recs = [
        {"商品": "加厚珊瑚绒毯子", "订单号": "240501-000000001", "订单状态": "已签收", "商品总价(元)": "59.80",
         "商品数量(件)": "\t2", "收货人": "王五", "手机": "13700137000", "支付时间": "2024-05-01 10:00:00",
         "商品id": "\t400001", "样式ID": "\t900001", "商家编码-SKU维度": "\tTZ-150", "售后状态": "无售后或售后取消"},
        {"商品": "加厚珊瑚绒毯子", "订单号": "240502-000000002", "订单状态": "已取消", "商品总价(元)": "29.90",
         "商品数量(件)": "1", "支付时间": "", "商品id": "400001", "样式ID": "900001", "商家编码-SKU维度": "TZ-150"},
        {"商品": "加厚珊瑚绒毯子", "订单号": "240508-000000003", "订单状态": "已签收，退款成功", "商品总价(元)": "29.90",
         "商品数量(件)": "1", "支付时间": "2024-05-08 09:00:00", "商品id": "400001", "样式ID": "900001",
         "商家编码-SKU维度": "TZ-150", "售后状态": "退款成功"},
        {"商品": "珊瑚绒枕套 一对", "订单号": "240509-000000004", "订单状态": "已发货，待签收", "商品总价(元)": "38.00",
         "商品数量(件)": "2", "支付时间": "2024-05-09 19:30:00", "商品id": "400002", "样式ID": "900002",
         "商家编码-SKU维度": ""},
    ]  # fmt: skip
    return "\ufeff" + _csv(PDD_HEADER, _rows(PDD_HEADER, recs))


@dataclass(frozen=True)
class Expected:
    files: dict  # file name -> writer
    layouts: dict  # file name -> the layout label the Data page shows
    units: dict  # product id -> units sold (after exclusions)
    returns: dict  # product id -> units returned
    orders: int  # distinct orders kept
    excluded: int  # lines excluded by status, summed over files


EXPECTED: dict[str, Expected] = {
    "shopify": Expected(
        {"orders_export_1.csv": shopify_orders, "products_export_1.csv": shopify_products},
        {"orders_export_1.csv": "Shopify orders export", "products_export_1.csv": "Shopify products export"},
        {"LAMP-B": 2, "LAMP-R": 1, "linen-throw": 4},
        {"linen-throw": 3},
        3,
        2,
    ),
    "woocommerce": Expected(
        {"wc-product-export.csv": woocommerce_products, "orders-export.csv": woocommerce_orders},
        {"wc-product-export.csv": "WooCommerce products export", "orders-export.csv": "WooCommerce orders export (line items)"},
        {"MUG-01": 3, "BEANIE-GRY": 1},
        {},
        2,
        2,
    ),
    "woocommerce_analytics": Expected(
        {"wc-orders-report.csv": woocommerce_analytics_orders},
        {"wc-orders-report.csv": "WooCommerce Analytics orders report"},
        {"Stoneware Mug": 3, "Wool Beanie - Grey": 1},
        {},
        2,
        1,
    ),
    "etsy": Expected(
        {"EtsySoldOrderItems2024.csv": etsy_order_items, "EtsySoldOrders2024.csv": etsy_orders},
        {"EtsySoldOrderItems2024.csv": "Etsy sold order items", "EtsySoldOrders2024.csv": "Etsy sold orders"},
        {"150001": 3, "BM-LIN": 1},
        {},
        2,
        1,
    ),
    "amazon": Expected(
        {"All Orders Report.txt": amazon_orders},
        {"All Orders Report.txt": "Amazon Seller Central order report"},
        {"BOARD-L": 2, "SPOON-1": 3},
        {},
        2,
        2,
    ),
    "ebay": Expected(
        {"eBay-OrdersReport-Mar-31-2024.csv": ebay_orders},
        {"eBay-OrdersReport-Mar-31-2024.csv": "eBay orders report"},
        {"CMP-01": 3, "2750000002": 1},
        {},
        2,
        1,
    ),
    "magento": Expected(
        {"catalog_product.csv": magento_catalog, "sales_order_item.csv": magento_order_items},
        {"catalog_product.csv": "Magento 2 catalog export", "sales_order_item.csv": "Magento 2 order items"},
        {"TEE-ORG": 3, "CAP-WAX": 1},
        {"CAP-WAX": 1},
        2,
        0,
    ),
    "taobao": Expected(
        {"ExportOrderList202403.csv": taobao_orders, "ExportOrderDetailList202403.csv": taobao_items},
        {"ExportOrderList202403.csv": "Taobao/Tmall 订单报表 (orders)",
         "ExportOrderDetailList202403.csv": "Taobao/Tmall 宝贝报表 (order items)"},
        {"YZ-001": 1, "ZT-002": 4},
        {},
        2,
        1,
    ),
    "jd": Expected(
        {"京东订单导出.csv": jd_orders},
        {"京东订单导出.csv": "JD POP orders export"},
        {"BWB-500": 5, "100012345602": 1},
        {},
        2,
        2,
    ),
    "pinduoduo": Expected(
        {"拼多多订单.csv": pinduoduo_orders},
        {"拼多多订单.csv": "Pinduoduo orders export"},
        {"TZ-150": 3, "900002": 2},
        {"TZ-150": 1},
        3,
        1,
    ),
}  # fmt: skip


def write(platform: str, folder: Path) -> list[Path]:
    """Write ``platform``'s export files into ``folder``; returns their paths."""
    paths = []
    for name, writer in EXPECTED[platform].files.items():
        data = writer()
        p = Path(folder) / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        paths.append(p)
    return paths


# The same exports from a German site: WooCommerce translates its exporter's column names.
WOO_DE = {
    "Type": "Typ", "SKU": "Artikelnummer", "GTIN, UPC, EAN, or ISBN": "GTIN, UPC, EAN oder ISBN",
    "Published": "Veröffentlicht", "Is featured?": "Ist hervorgehoben?", "Visibility in catalog":
    "Sichtbarkeit im Katalog", "Short description": "Kurzbeschreibung", "Description": "Beschreibung",
    "Tax status": "Steuerstatus", "In stock?": "Vorrätig?", "Stock": "Lager", "Backorders allowed?":
    "Lieferrückstande erlaubt?", "Sale price": "Angebotspreis", "Regular price": "Regulärer Preis",
    "Categories": "Kategorien", "Tags": "Schlagwörter", "Images": "Bilder", "Parent": "Übergeordnetes Produkt",
}  # fmt: skip


def woocommerce_products_de() -> str:
    text = woocommerce_products().lstrip("\ufeff")
    header, rest = text.split("\n", 1)
    names = next(csv.reader([header]))
    return "\ufeff" + _csv([WOO_DE.get(n, n) for n in names], list(csv.reader(io.StringIO(rest))))


def woocommerce_analytics_orders_de() -> str:
    de = {"Date": "Datum", "Order #": "Bestellnummer #", "Status": "Status", "Customer": "Kunde",
          "Customer type": "Kundentyp", "Product(s)": "Produkt(e)", "Items sold": "Verkaufte Artikel",
          "Coupon(s)": "Gutschein(e)", "Net sales": "Nettoumsatz", "Attribution": "Zuordnung",
          "Payment method": "Zahlungsmethode"}  # fmt: skip
    statuses = {"completed": "Fertiggestellt", "cancelled": "Storniert", "processing": "In Bearbeitung"}
    rows = list(csv.reader(io.StringIO(woocommerce_analytics_orders())))
    body = [[statuses.get(c, c) for c in r] for r in rows[1:]]
    return _csv([de[h] for h in rows[0]], body)
