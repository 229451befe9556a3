use emkit::GaussianMixture;
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let k: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let t = emkit::io::read_table(std::path::Path::new(&path), None).unwrap();
    let data = t.data.view();
    for it in [1, 20, 100] {
        let t = Instant::now();
        let reps = 20;
        for _ in 0..reps {
            std::hint::black_box(
                GaussianMixture::builder(k)
                    .tol(0.0)
                    .max_iter(it)
                    .init(emkit::Init::RandomFromData)
                    .fit(data)
                    .unwrap(),
            );
        }
        println!(
            "max_iter {it}: {:.3} ms per fit",
            t.elapsed().as_secs_f64() * 1e3 / reps as f64
        );
    }
}
