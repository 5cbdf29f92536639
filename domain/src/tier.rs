//! The tier catalogue: price per second and the resource limits each tier
//! gives a sandbox.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TierName {
    Nano,
    Micro,
    Small,
    Medium,
    Large,
    GpuSmall,
}

/// What a tier costs and what it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub name: TierName,
    pub display_name: &'static str,
    pub msats_per_second: u64,
    /// CPU limit in thousandths of a core.
    pub millicpus: u64,
    pub memory_mib: u64,
    /// Disk of the sandbox's writable places (its home and /tmp), held in
    /// memory and counted in `memory_mib`: the kernel refuses writes
    /// beyond it, and no sandbox can fill the host's disk.
    pub disk_mib: u64,
    pub pids: u64,
    pub needs_gpu: bool,
}

const TIERS: [Tier; 6] = [
    Tier {
        name: TierName::Nano,
        display_name: "Nano",
        msats_per_second: 500,
        millicpus: 250,
        memory_mib: 256,
        disk_mib: 128,
        pids: 128,
        needs_gpu: false,
    },
    Tier {
        name: TierName::Micro,
        display_name: "Micro",
        msats_per_second: 1_000,
        millicpus: 500,
        memory_mib: 512,
        disk_mib: 256,
        pids: 256,
        needs_gpu: false,
    },
    Tier {
        name: TierName::Small,
        display_name: "Small",
        msats_per_second: 2_500,
        millicpus: 1_000,
        memory_mib: 1_024,
        disk_mib: 512,
        pids: 512,
        needs_gpu: false,
    },
    Tier {
        name: TierName::Medium,
        display_name: "Medium",
        msats_per_second: 5_000,
        millicpus: 2_000,
        memory_mib: 2_048,
        disk_mib: 1_024,
        pids: 1_024,
        needs_gpu: false,
    },
    Tier {
        name: TierName::Large,
        display_name: "Large",
        msats_per_second: 10_000,
        millicpus: 4_000,
        memory_mib: 4_096,
        disk_mib: 2_048,
        pids: 2_048,
        needs_gpu: false,
    },
    Tier {
        name: TierName::GpuSmall,
        display_name: "GPU Small",
        msats_per_second: 25_000,
        millicpus: 4_000,
        memory_mib: 8_192,
        disk_mib: 4_096,
        pids: 2_048,
        needs_gpu: true,
    },
];

impl Tier {
    pub fn all() -> &'static [Tier] {
        &TIERS
    }

    pub fn of(name: TierName) -> Tier {
        // The catalogue holds every variant; the fallback is unreachable by construction.
        TIERS
            .iter()
            .copied()
            .find(|t| t.name == name)
            .unwrap_or(TIERS[0])
    }
}

impl TierName {
    pub fn as_str(self) -> &'static str {
        match self {
            TierName::Nano => "nano",
            TierName::Micro => "micro",
            TierName::Small => "small",
            TierName::Medium => "medium",
            TierName::Large => "large",
            TierName::GpuSmall => "gpu-small",
        }
    }
}

impl fmt::Display for TierName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier '{0}'")]
pub struct UnknownTier(pub String);

impl FromStr for TierName {
    type Err = UnknownTier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::all()
            .iter()
            .map(|t| t.name)
            .find(|n| n.as_str() == s)
            .ok_or_else(|| UnknownTier(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tier_name_round_trips() {
        for tier in Tier::all() {
            assert_eq!(tier.name.as_str().parse::<TierName>(), Ok(tier.name));
            assert_eq!(Tier::of(tier.name), *tier);
        }
        assert!("huge".parse::<TierName>().is_err());
    }

    #[test]
    fn hosted_service_prices() {
        let rates: Vec<u64> = Tier::all().iter().map(|t| t.msats_per_second).collect();
        assert_eq!(rates, vec![500, 1_000, 2_500, 5_000, 10_000, 25_000]);
    }
}
