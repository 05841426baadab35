//! A plugin whichever WIT version it was built against: [`ProviderPre`]
//! finds the version its exports fit when it is loaded, and [`Guest`] calls
//! one instance's exports and hands back the latest types (an 0.1.0
//! component's answers are carried up by `since_v0_1`).

use super::bindings::latest::easel::image_provider::types as latest;
use super::bindings::{v0_1, v0_2};
use super::state::PluginState;
use wasmtime::component::InstancePre;
use wasmtime::{Engine, Store};

/// What an export call returns: a trap, or the plugin's own answer.
pub type Exported<R> = wasmtime::Result<Result<R, latest::ProviderError>>;

/// A pre-instantiated plugin of one WIT version.
pub enum ProviderPre {
    V0_1(v0_1::ImageProviderPre<PluginState>),
    V0_2(v0_2::ImageProviderPre<PluginState>),
}

impl ProviderPre {
    /// The newest version whose `provider` export `pre`'s component has.
    ///
    /// Errors: it exports neither `easel:image-provider/provider@0.2.0` nor
    /// `@0.1.0` (with the type-check failure of the newest).
    pub fn new(pre: InstancePre<PluginState>) -> wasmtime::Result<ProviderPre> {
        match v0_2::ImageProviderPre::new(pre.clone()) {
            Ok(pre) => Ok(ProviderPre::V0_2(pre)),
            Err(newest) => match v0_1::ImageProviderPre::new(pre) {
                Ok(pre) => Ok(ProviderPre::V0_1(pre)),
                Err(_) => Err(newest.context(
                    "it exports neither easel:image-provider/provider@0.2.0 nor @0.1.0 with the functions and types of that version",
                )),
            },
        }
    }

    /// The WIT version, e.g. `0.2.0`.
    pub fn version(&self) -> &'static str {
        match self {
            ProviderPre::V0_1(_) => "0.1.0",
            ProviderPre::V0_2(_) => "0.2.0",
        }
    }

    pub fn engine(&self) -> &Engine {
        match self {
            ProviderPre::V0_1(pre) => pre.engine(),
            ProviderPre::V0_2(pre) => pre.engine(),
        }
    }

    /// A fresh instance in `store`.
    pub async fn instantiate_async(&self, store: &mut Store<PluginState>) -> wasmtime::Result<Guest> {
        Ok(match self {
            ProviderPre::V0_1(pre) => Guest::V0_1(pre.instantiate_async(store).await?),
            ProviderPre::V0_2(pre) => Guest::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

/// One instance of a plugin.
pub enum Guest {
    V0_1(v0_1::ImageProvider),
    V0_2(v0_2::ImageProvider),
}

impl Guest {
    /// `describe`.
    pub async fn describe(&self, store: &mut Store<PluginState>) -> Exported<latest::ProviderInfo> {
        match self {
            Guest::V0_1(g) => {
                Ok(g.easel_image_provider_provider().call_describe(store).await?.map(Into::into).map_err(Into::into))
            }
            Guest::V0_2(g) => g.easel_image_provider_provider().call_describe(store).await,
        }
    }

    /// `submit`.
    pub async fn submit(
        &self,
        store: &mut Store<PluginState>,
        request: &latest::GenerationRequest,
    ) -> Exported<latest::Submission> {
        match self {
            Guest::V0_1(g) => {
                let request = v0_1::easel::image_provider::types::GenerationRequest::from(request);
                Ok(g.easel_image_provider_provider()
                    .call_submit(store, &request)
                    .await?
                    .map(Into::into)
                    .map_err(Into::into))
            }
            Guest::V0_2(g) => g.easel_image_provider_provider().call_submit(store, request).await,
        }
    }

    /// `poll`.
    pub async fn poll(&self, store: &mut Store<PluginState>, token: &String) -> Exported<latest::JobState> {
        match self {
            Guest::V0_1(g) => {
                Ok(g.easel_image_provider_provider().call_poll(store, token).await?.map(Into::into).map_err(Into::into))
            }
            Guest::V0_2(g) => g.easel_image_provider_provider().call_poll(store, token).await,
        }
    }

    /// `cancel`.
    pub async fn cancel(&self, store: &mut Store<PluginState>, token: &String) -> Exported<()> {
        match self {
            Guest::V0_1(g) => {
                Ok(g.easel_image_provider_provider().call_cancel(store, token).await?.map_err(Into::into))
            }
            Guest::V0_2(g) => g.easel_image_provider_provider().call_cancel(store, token).await,
        }
    }
}
