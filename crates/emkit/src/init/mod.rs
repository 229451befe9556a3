//! Initialisations: k-means (seeded by k-means++), k-means++ seeding alone,
//! and random picks. They return centres and hard labels, or random soft
//! responsibilities; models turn those into their first parameters.

mod kmeans;

pub use kmeans::{kmeans, kmeans_plus_plus, nearest_centres, nearest_distances, KMeansResult};

/// How a mixture's first parameters are chosen in each restart.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Init {
    /// k-means seeded by k-means++, run to convergence; responsibilities are its
    /// hard labels (scikit-learn's default, `init_params="kmeans"`).
    #[default]
    KMeans,
    /// k-means++ seeding alone; each row is assigned to its nearest seed.
    KMeansPlusPlus,
    /// Random responsibilities: each row gets uniform random weights, normalised.
    Random,
    /// `k` distinct rows picked at random as centres; each row is assigned to
    /// its nearest pick. (scikit-learn gives the picked rows alone weight; we
    /// assign every row, so the first covariances are not the bare `reg_covar`.)
    RandomFromData,
}

impl Init {
    /// The command-line name.
    pub fn name(&self) -> &'static str {
        match self {
            Init::KMeans => "kmeans",
            Init::KMeansPlusPlus => "kmeans++",
            Init::Random => "random",
            Init::RandomFromData => "random-from-data",
        }
    }
}

impl std::str::FromStr for Init {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kmeans" | "k-means" => Ok(Init::KMeans),
            "kmeans++" | "k-means++" => Ok(Init::KMeansPlusPlus),
            "random" => Ok(Init::Random),
            "random-from-data" | "random_from_data" => Ok(Init::RandomFromData),
            _ => Err(crate::Error::InvalidConfig {
                field: "init",
                reason: format!("unknown {s:?}; use kmeans, kmeans++, random or random-from-data"),
            }),
        }
    }
}
