fn main() {
    let text = ccs::sample::generate(64, 64, 10_000);
    let t = std::time::Instant::now();
    let el = ccs::xml::parse(&text).unwrap();
    let t1 = t.elapsed();
    let conf = ccs::ClusterConf::from_element(el);
    let t2 = t.elapsed();
    let d = ccs::validate::validate(&conf);
    let t3 = t.elapsed();
    let w = ccs::write(&conf);
    let t4 = t.elapsed();
    println!(
        "{} bytes; xml {:?} model {:?} validate {:?} write {:?} ({} diags, {} out)",
        text.len(),
        t1,
        t2 - t1,
        t3 - t2,
        t4 - t3,
        d.len(),
        w.len()
    );
}
