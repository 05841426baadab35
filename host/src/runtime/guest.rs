//! A plugin whichever WIT version it was built against: [`ProviderPre`]
//! finds the version its exports fit when it is loaded, and [`Guest`] calls
//! one instance's exports and hands back the latest types (an 0.2.0
//! component's answers are carried up by `since_v0_2`, an 0.1.0
//! component's by `since_v0_1` and then `since_v0_2`).

use super::bindings::latest::easel::image_provider::types as latest;
use super::bindings::{v0_1, v0_2, v0_3};
use super::state::PluginState;
use wasmtime::component::InstancePre;
use wasmtime::{Engine, Store};

/// What an export call returns: a trap, or the plugin's own answer.
pub type Exported<R> = wasmtime::Result<Result<R, latest::ProviderError>>;

/// A pre-instantiated plugin of one WIT version.
pub enum ProviderPre {
    V0_1(v0_1::ImageProviderPre<PluginState>),
    V0_2(v0_2::ImageProviderPre<PluginState>),
    V0_3(v0_3::ImageProviderPre<PluginState>),
}

impl ProviderPre {
    /// The newest version whose `provider` export `pre`'s component has.
    ///
    /// Errors: it exports none of `easel:image-provider/provider@0.3.0`,
    /// `@0.2.0` and `@0.1.0` (with the type-check failure of the newest).
    pub fn new(pre: InstancePre<PluginState>) -> wasmtime::Result<ProviderPre> {
        let newest = match v0_3::ImageProviderPre::new(pre.clone()) {
            Ok(pre) => return Ok(ProviderPre::V0_3(pre)),
            Err(newest) => newest,
        };
        if let Ok(pre) = v0_2::ImageProviderPre::new(pre.clone()) {
            return Ok(ProviderPre::V0_2(pre));
        }
        match v0_1::ImageProviderPre::new(pre) {
            Ok(pre) => Ok(ProviderPre::V0_1(pre)),
            Err(_) => Err(newest.context(
                "it exports none of easel:image-provider/provider@0.3.0, @0.2.0 and @0.1.0 with the functions and types of that version",
            )),
        }
    }

    /// The WIT version, e.g. `0.2.0`.
    pub fn version(&self) -> &'static str {
        match self {
            ProviderPre::V0_1(_) => "0.1.0",
            ProviderPre::V0_2(_) => "0.2.0",
            ProviderPre::V0_3(_) => "0.3.0",
        }
    }

    pub fn engine(&self) -> &Engine {
        match self {
            ProviderPre::V0_1(pre) => pre.engine(),
            ProviderPre::V0_2(pre) => pre.engine(),
            ProviderPre::V0_3(pre) => pre.engine(),
        }
    }

    /// A fresh instance in `store`.
    pub async fn instantiate_async(&self, store: &mut Store<PluginState>) -> wasmtime::Result<Guest> {
        Ok(match self {
            ProviderPre::V0_1(pre) => Guest::V0_1(pre.instantiate_async(store).await?),
            ProviderPre::V0_2(pre) => Guest::V0_2(pre.instantiate_async(store).await?),
            ProviderPre::V0_3(pre) => Guest::V0_3(pre.instantiate_async(store).await?),
        })
    }
}

/// One instance of a plugin.
pub enum Guest {
    V0_1(v0_1::ImageProvider),
    V0_2(v0_2::ImageProvider),
    V0_3(v0_3::ImageProvider),
}

impl Guest {
    /// `describe`.
    pub async fn describe(&self, store: &mut Store<PluginState>) -> Exported<latest::ProviderInfo> {
        match self {
            Guest::V0_1(g) => Ok(g
                .easel_image_provider_provider()
                .call_describe(store)
                .await?
                .map(|i| v0_2::easel::image_provider::types::ProviderInfo::from(i).into())
                .map_err(|e| v0_2::easel::image_provider::types::ProviderError::from(e).into())),
            Guest::V0_2(g) => {
                Ok(g.easel_image_provider_provider().call_describe(store).await?.map(Into::into).map_err(Into::into))
            }
            Guest::V0_3(g) => g.easel_image_provider_provider().call_describe(store).await,
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
                let request = v0_2::easel::image_provider::types::GenerationRequest::from(request);
                let request = v0_1::easel::image_provider::types::GenerationRequest::from(&request);
                Ok(g.easel_image_provider_provider()
                    .call_submit(store, &request)
                    .await?
                    .map(|s| v0_2::easel::image_provider::types::Submission::from(s).into())
                    .map_err(|e| v0_2::easel::image_provider::types::ProviderError::from(e).into()))
            }
            Guest::V0_2(g) => {
                let request = v0_2::easel::image_provider::types::GenerationRequest::from(request);
                Ok(g.easel_image_provider_provider()
                    .call_submit(store, &request)
                    .await?
                    .map(Into::into)
                    .map_err(Into::into))
            }
            Guest::V0_3(g) => g.easel_image_provider_provider().call_submit(store, request).await,
        }
    }

    /// `poll`.
    pub async fn poll(&self, store: &mut Store<PluginState>, token: &String) -> Exported<latest::JobState> {
        match self {
            Guest::V0_1(g) => Ok(g
                .easel_image_provider_provider()
                .call_poll(store, token)
                .await?
                .map(|s| v0_2::easel::image_provider::types::JobState::from(s).into())
                .map_err(|e| v0_2::easel::image_provider::types::ProviderError::from(e).into())),
            Guest::V0_2(g) => {
                Ok(g.easel_image_provider_provider().call_poll(store, token).await?.map(Into::into).map_err(Into::into))
            }
            Guest::V0_3(g) => g.easel_image_provider_provider().call_poll(store, token).await,
        }
    }

    /// `cancel`.
    pub async fn cancel(&self, store: &mut Store<PluginState>, token: &String) -> Exported<()> {
        match self {
            Guest::V0_1(g) => Ok(g
                .easel_image_provider_provider()
                .call_cancel(store, token)
                .await?
                .map_err(|e| v0_2::easel::image_provider::types::ProviderError::from(e).into())),
            Guest::V0_2(g) => {
                Ok(g.easel_image_provider_provider().call_cancel(store, token).await?.map_err(Into::into))
            }
            Guest::V0_3(g) => g.easel_image_provider_provider().call_cancel(store, token).await,
        }
    }
}
